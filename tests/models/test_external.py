"""External timm-format encoders: folders written by timm, the hub cache offline, and
their use to embed, fine-tune and start training (never to predict)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from timm.models import save_for_hf

from galmorph.cli import main
from galmorph.exceptions import ModelError
from galmorph.inference.embeddings import read_embeddings
from galmorph.models.checkpoint import load_model
from galmorph.models.external import ENCODER_TASK
from galmorph.training.train import train

ARCH = "test_convnext"
CPU = ["--device", "cpu", "--num-workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def timm_encoder() -> torch.nn.Module:
    torch.manual_seed(3)
    return timm.create_model(ARCH, num_classes=5).eval()


@pytest.fixture(scope="module", params=[True, False], ids=["safetensors", "pytorch_model.bin"])
def timm_folder(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    timm_encoder: torch.nn.Module,
) -> Path:
    """A folder written by timm itself, in one of its two weight formats."""
    folder = tmp_path_factory.mktemp("timm") / "my-encoder"
    save_for_hf(timm_encoder, folder, safe_serialization=request.param)
    expected = "model.safetensors" if request.param else "pytorch_model.bin"
    assert (folder / expected).is_file()
    return folder


def _pooled(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_head(model.forward_features(images), pre_logits=True)


def test_a_timm_folder_loads_as_a_headless_encoder_with_its_conventions(
    timm_folder: Path, timm_encoder: torch.nn.Module
) -> None:
    loaded = load_model(timm_folder)
    assert loaded.task == ENCODER_TASK and loaded.name == "my-encoder"
    cfg = timm_encoder.pretrained_cfg
    assert loaded.image_config.size == cfg["input_size"][-1]
    assert loaded.image_config.mean == pytest.approx(cfg["mean"])
    assert loaded.image_config.std == pytest.approx(cfg["std"])
    images = torch.randn(2, 3, 40, 40)
    torch.testing.assert_close(loaded.model(images), _pooled(timm_encoder, images))


def test_embed_with_a_timm_folder(
    timm_folder: Path, timm_encoder: torch.nn.Module, small_catalog: Path, tmp_path: Path
) -> None:
    out = tmp_path / "emb.parquet"
    assert main(["embed", str(small_catalog), "-m", str(timm_folder), "-o", str(out),
                 "--views", "1", "--input-size", "48", *CPU]) == 0
    embeddings = read_embeddings(out)
    assert embeddings.info.image["size"] == 48
    assert embeddings.features.shape == (8, timm_encoder.num_features)
    assert np.isfinite(embeddings.features).all()
    assert embeddings.features.std(axis=0).max() > 0  # galaxies differ


def test_image_settings_from_flags_fill_what_the_config_lacks(
    timm_folder: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(timm_folder, bare)
    config = json.loads((bare / "config.json").read_text())
    for key in ("input_size", "mean", "std"):
        config["pretrained_cfg"].pop(key)
    (bare / "config.json").write_text(json.dumps(config))
    loaded = load_model(bare, image={"size": 40, "mean": [0.3], "std": [0.2]})
    assert loaded.image_config.size == 40
    assert loaded.image_config.mean == pytest.approx((0.3, 0.3, 0.3))
    assert loaded.image_config.std == pytest.approx((0.2, 0.2, 0.2))


def test_predict_and_evaluate_refuse_an_encoder_in_one_line(
    timm_folder: Path, small_catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["predict", str(small_catalog), "-o", str(tmp_path / "p.csv")],
                    ["evaluate", str(small_catalog)]):
        assert main([*command, "-m", str(timm_folder), "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
        assert "encoder with no head" in err[0]
    assert not (tmp_path / "p.csv").exists()


def test_image_flags_are_refused_for_a_galmorph_model(
    untrained_model: Path, small_catalog: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["embed", str(small_catalog), "-m", str(untrained_model), "-o",
                 str(tmp_path / "e.parquet"), "--mean", "0.5", *CPU]) == 2
    assert "for external encoders" in capsys.readouterr().err


def test_train_and_finetune_start_from_a_timm_folder(
    timm_folder: Path, timm_encoder: torch.nn.Module, demo_catalog: pd.DataFrame,
    demo_dir: Path, tmp_path: Path,
) -> None:
    frame = demo_catalog.head(40).copy()
    frame["file_loc"] = [str(demo_dir / loc) for loc in frame["file_loc"]]
    result = train(frame, "gz2-no-odd", tmp_path / "votes", init=str(timm_folder),
                   image_size=32, epochs=1, batch_size=16, num_workers=0, progress=False,
                   split_fractions=(0.6, 0.4, 0.0))
    training = result.metadata["training"]
    assert training["start"]["init"] == "pretrained"
    assert training["start"]["model"] == "my-encoder"
    assert training["lr_decay"] == pytest.approx(0.8)  # a pretrained start decays
    assert result.metadata["encoder"] == ARCH
    assert result.metadata["image"]["mean"] == pytest.approx(timm_encoder.pretrained_cfg["mean"])
    voted = load_model(result.model_path)
    assert voted.task == "votes"
    labelled = tmp_path / "labelled.csv"
    frame.assign(ring=np.arange(len(frame)) % 2).to_csv(labelled, index=False)
    assert main(["finetune", str(labelled), "--label", "ring", "-m", str(timm_folder),
                 "-o", str(tmp_path / "ring"), "--epochs", "1", "--image-size", "32",
                 "--n-blocks", "0", "--batch-size", "8", "--num-workers", "0",
                 "--accelerator", "cpu", "--no-progress"]) == 0
    assert load_model(tmp_path / "ring" / "model.pt").task == "classification"


def _fill_hub_cache(cache: Path, repo: str, files: dict[str, Path]) -> None:
    """The layout huggingface_hub leaves after a download: blobs, a snapshot, refs/main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        shutil.copyfile(source, snapshot / name)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(commit)


def _embed_offline(cache: Path, tmp_path: Path, catalog: Path, repo: str
                   ) -> subprocess.CompletedProcess[str]:
    """``galmorph embed -m hf_hub:REPO`` in a fresh interpreter (the hub reads
    ``HF_HUB_OFFLINE`` when imported), from a filled cache with no network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache),
           "HF_HOME": str(tmp_path / "home")}
    out = tmp_path / f"{repo.split('/')[1]}.parquet"
    return subprocess.run(
        [sys.executable, "-m", "galmorph", "embed", str(catalog), "-m", f"hf_hub:{repo}",
         "-o", str(out), "--views", "1", *CPU],
        env=env, capture_output=True, text=True, timeout=300,
    )


def test_hub_timm_encoders_load_offline_from_the_cache(
    timm_folder: Path, small_catalog: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "hub"
    weights = next(p for p in timm_folder.iterdir() if p.name != "config.json")
    _fill_hub_cache(cache, "someone/timm-encoder",
                    {"config.json": timm_folder / "config.json", weights.name: weights})
    done = _embed_offline(cache, tmp_path, small_catalog, "someone/timm-encoder")
    assert done.returncode == 0, done.stderr
    info = read_embeddings(tmp_path / "timm-encoder.parquet").info
    assert info.model["spec"] == "hf_hub:someone/timm-encoder"
    assert info.model["name"] == "someone/timm-encoder"


def test_hub_galmorph_models_load_offline_and_a_missing_repository_is_named(
    untrained_model: Path, small_catalog: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "hub"
    _fill_hub_cache(cache, "someone/galmorph-model", {"galmorph.pt": untrained_model})
    done = _embed_offline(cache, tmp_path, small_catalog, "someone/galmorph-model")
    assert done.returncode == 0, done.stderr
    info = read_embeddings(tmp_path / "galmorph-model.parquet").info
    assert info.model["spec"] == "hf_hub:someone/galmorph-model"
    assert info.model["name"] == "tiny"
    missing = _embed_offline(cache, tmp_path, small_catalog, "someone/absent")
    assert missing.returncode == 2 and "error:" in missing.stderr
    assert "galmorph.pt" in missing.stderr and "config.json" in missing.stderr
    assert ("with no network here, download it where there is one (huggingface-cli download "
            "someone/absent --local-dir FOLDER)") in " ".join(missing.stderr.split())


def test_a_folder_with_weights_that_do_not_fit_is_refused(
    timm_folder: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(timm_folder, broken)
    config = json.loads((broken / "config.json").read_text())
    config["architecture"] = "test_resnet"
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="do not fit"):
        load_model(broken)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one ``error:`` line a failed command printed on stderr."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_unreadable_weights_give_one_line_without_unsafe_advice(
    timm_folder: Path, small_catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    shutil.copy(timm_folder / "config.json", folder)
    weights = folder / "pytorch_model.bin"
    embed = ["embed", str(small_catalog), "-m", str(folder), "-o", str(tmp_path / "e.parquet"),
             "--views", "1", *CPU]
    cases = [  # what the file holds, what the one error line says
        (b"not a pickle", "not a weights file (tensors by name) that loads safely"),
        (torch.zeros(3), "holds no state dict"),
        ([1, 2], "holds no state dict"),
    ]
    for content, expected in cases:
        if isinstance(content, bytes):
            weights.write_bytes(content)
        else:
            torch.save(content, weights)
        assert main(embed) == 2
        line = _one_error_line(capsys)
        assert expected in line and str(weights) in line and "weights_only" not in line, line
    assert not (tmp_path / "e.parquet").exists()


def test_weights_of_another_shape_are_named_in_one_line(
    timm_folder: Path, timm_encoder: torch.nn.Module, tmp_path: Path
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    shutil.copy(timm_folder / "config.json", folder)
    state = dict(timm_encoder.state_dict())
    first = next(k for k, v in state.items() if v.ndim == 4)
    state[first] = torch.zeros(1, *state[first].shape[1:])
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelError) as raised:
        load_model(folder)
    message = str(raised.value)
    assert "\n" not in message and f"{first} is (1, " in message and "in the model" in message


def test_unusable_image_settings_name_the_config_or_the_options(
    timm_folder: Path, small_catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(timm_folder, bad)
    config = json.loads((bad / "config.json").read_text())
    for key, value in (("std", [0, 0, 0]), ("mean", "imagenet"), ("input_size", [3, 4, 4])):
        broken = {**config, "pretrained_cfg": {**config["pretrained_cfg"], key: value}}
        (bad / "config.json").write_text(json.dumps(broken))
        with pytest.raises(ModelError, match=f"unusable image settings from {bad}/config.json"):
            load_model(bad)
    out = tmp_path / "e.parquet"
    for flags, expected in ((["--mean", "0.1", "0.2"], "mean needs 1 or 3 values, got 2"),
                            (["--input-size", "4"], "image size must be an integer >= 8")):
        assert main(["embed", str(small_catalog), "-m", str(timm_folder), "-o", str(out),
                     "--views", "1", *flags, *CPU]) == 2  # not averaged to 0.15, not a traceback
        line = _one_error_line(capsys)
        assert expected in line and "--input-size, --mean, --std" in line, line
    assert not out.exists()
