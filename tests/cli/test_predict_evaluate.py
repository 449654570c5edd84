"""``galmorph predict`` and ``galmorph evaluate``: exit codes, output files, metadata."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from galmorph.cli import main
from galmorph.data.image_config import ImageConfig
from galmorph.data.schemas import get_schema
from galmorph.exceptions import GalmorphWarning
from galmorph.inference import loop
from galmorph.inference.embeddings import read_embeddings
from galmorph.inference.outputs import read_metadata
from galmorph.models import checkpoint
from galmorph.models.checkpoint import load_model, save_model
from galmorph.models.metrics import confident_mask
from galmorph.models.model import GalaxyModel
from galmorph.training.train import model_metadata

SCHEMA = get_schema("gz2")
FAST = ["--num-workers", "0", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained test_convnext vote model for 32 px GZ2 images."""
    torch.manual_seed(0)
    config = ImageConfig.for_sdss_gz2(size=32)
    model = GalaxyModel.for_votes("test_convnext", SCHEMA.n_answers)
    metadata = model_metadata(
        SCHEMA, config, "test_convnext", 0.2, {}, np.full(SCHEMA.n_answers, 3.0), "tiny"
    )
    return save_model(model, metadata, tmp_path_factory.mktemp("models") / "tiny.pt")


@pytest.fixture
def catalog(make_catalog: Callable[..., Path]) -> Path:
    return make_catalog(5)


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def _read_back(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, comment="#", dtype={"id_str": str})
    if path.suffix == ".fits":
        from astropy.table import Table

        return Table.read(path).to_pandas()
    return pd.read_parquet(path)


# ------------------------------------------------------------------ predict
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".fits"])
def test_predict_writes_each_format_with_provenance(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path, suffix: str
) -> None:
    out = catalog.parent / "results" / f"predictions{suffix}"
    status, stdout, err = run(capsys, "predict", catalog, "--model", model_path, "-o", out, *FAST)
    assert status == 0, err
    assert (f"Wrote 5 galaxies x {SCHEMA.n_questions + 4 * SCHEMA.n_answers} prediction columns "
            "(and id_str)") in stdout
    meta = read_metadata(out)
    assert meta["galmorph_model"] == "tiny"
    assert meta["galmorph_model_sha256"] == load_model(model_path).checksum
    assert meta["galmorph_model_version"] == load_model(model_path).metadata["galmorph_version"]
    assert meta["galmorph_mc_samples"] == "1"
    table = _read_back(out)
    assert len(table) == 5 and table.shape[1] == 1 + SCHEMA.n_questions + 4 * SCHEMA.n_answers
    assert "t01_smooth_or_features_a02_features_or_disk_upper90" in table
    written = [out.name] + ([f"{out.name}.meta.json"] if suffix == ".csv" else [])
    assert sorted(p.name for p in out.parent.iterdir()) == written  # no temporary left


def test_predict_unlabelled_catalog_model_folder_and_mc(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], model_path: Path
) -> None:
    bare = make_catalog(3, name="bare.csv", edit=lambda df: df[["id_str", "file_loc"]])
    out = bare.parent / "p.csv"
    status, _, err = run(
        capsys, "predict", bare, "-m", model_path.parent, "-o", out, "--mc-samples", "3",
        "--views", "4", *FAST
    )
    assert status == 0, err
    assert read_metadata(out)["galmorph_mc_samples"] == "3"
    assert read_metadata(out)["galmorph_views"] == "4"
    table = _read_back(out)
    assert table["id_str"].tolist() == pd.read_csv(bare, dtype=str)["id_str"].tolist()


def test_a_folder_of_cutouts_is_predicted_and_embedded_without_a_catalog(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_dir: Path, model_path: Path
) -> None:
    folder = tmp_path / "cutouts"
    (folder / "rings").mkdir(parents=True)
    images = sorted((demo_dir / "images").iterdir())[:3]
    for image, where in zip(images, ["", "", "rings"], strict=True):
        shutil.copy(image, folder / where / image.name)
    (folder / "notes.txt").write_text("not an image")
    ids = [images[0].stem, images[1].stem, f"rings/{images[2].stem}"]

    status, stdout, err = run(capsys, "predict", folder, "-m", model_path, "-o",
                              tmp_path / "p.csv", *FAST)
    assert status == 0, err
    assert _read_back(tmp_path / "p.csv")["id_str"].tolist() == ids
    status, _, err = run(capsys, "embed", folder, "-m", model_path, "-o", tmp_path / "e.parquet",
                         *FAST)
    assert status == 0, err
    embeddings = read_embeddings(tmp_path / "e.parquet")
    assert embeddings.ids.tolist() == ids
    assert embeddings.ra is not None and embeddings.ra[0] == pytest.approx(0.8120833)  # J000314.90


def test_unknown_extension_fails_before_any_work(
    capsys: pytest.CaptureFixture[str], catalog: Path
) -> None:
    out = catalog.parent / "predictions.txt"
    # the model does not exist either: the file name is checked first
    status, stdout, err = run(capsys, "predict", catalog, "-m", "nowhere.pt", "-o", out, *FAST)
    assert status == 2
    assert "'.txt'" in err and ".parquet, .csv, .ecsv or .fits" in err and "nowhere" not in err
    assert not out.exists() and "Traceback" not in err


def test_default_model_missing_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "shipped_models", dict)
    out = catalog.parent / "p.parquet"
    status, _, err = run(capsys, "predict", catalog, "-o", out, *FAST)
    assert status == 2
    assert "gz2-starter" in err and "not found" in err and "hf_hub:" in err
    assert not out.exists()


def test_output_may_not_replace_the_catalog(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path
) -> None:
    before = catalog.read_text()
    status, _, err = run(capsys, "predict", catalog, "-m", model_path, "-o", catalog, *FAST)
    assert status == 2 and "overwrite the catalog" in err
    assert catalog.read_text() == before


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], catalog: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(catalog), "-o", "p.csv", "--mc-samples", "0"])
    assert exit_info.value.code == 2
    assert "--mc-samples" in capsys.readouterr().err
    status, _, err = run(capsys, "predict", catalog, "-o", "p.csv", "--device", "quantum")
    assert status == 2 and "unknown device" in err


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_run_leaves_no_file(
    capsys: pytest.CaptureFixture[str],
    catalog: Path,
    model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: type[BaseException],
) -> None:
    real = loop.sample_outputs
    batches = []

    def failing(model: GalaxyModel, mc_samples: int) -> Callable[[torch.Tensor], torch.Tensor]:
        forward = real(model, mc_samples)

        def second_batch_fails(images: torch.Tensor) -> torch.Tensor:
            batches.append(len(images))
            if len(batches) == 2:
                raise error("model failed")
            return forward(images)

        return second_batch_fails

    monkeypatch.setattr(loop, "sample_outputs", failing)
    folder = catalog.parent / "results"
    folder.mkdir()
    out = folder / "p.parquet"
    args = ["predict", catalog, "-m", model_path, "-o", out, "--batch-size", "2", *FAST]
    args += ["--backend", "torch"]  # the failure is injected into the PyTorch path
    if error is KeyboardInterrupt:
        status, _, err = run(capsys, *args)
        assert status == 130 and "interrupted" in err
    else:
        with pytest.raises(RuntimeError, match="model failed"):
            run(capsys, *args)
    assert batches == [2, 2]
    assert list(folder.iterdir()) == []


# ----------------------------------------------------------------- evaluate
def test_evaluate_prints_table_and_writes_json(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path
) -> None:
    out = catalog.parent / "metrics" / "eval.json"
    with pytest.warns(GalmorphWarning, match="t10_arms_winding"):  # the demo has no t10/t11
        status, stdout, err = run(
            capsys, "evaluate", catalog, "-m", model_path, "--json", out, "--mc-samples", "2",
            "--views", "8", *FAST,
        )
    assert status == 0, err
    assert "Model tiny" in stdout and "Vote-count evaluation: 5 galaxies" in stdout
    assert "edge-on" in stdout and "Summed NLL per galaxy" in stdout
    result = json.loads(out.read_text())
    assert set(result["questions"]) == {q.name for q in SCHEMA.questions}
    for metrics in result["questions"].values():
        assert {"nll", "mae", "accuracy_confident", "n_confident"} <= set(metrics)
    assert isinstance(result["mean_nll"], float) and result["mean_nll"] > 0
    assert result["mean_nll"] == pytest.approx(
        sum(m["nll"] for m in result["questions"].values() if m["nll"] is not None)
    )
    # nobody voted on t10/t11 (the catalog has no columns for them): no score, not 0
    assert result["questions"]["t10_arms_winding"]["nll"] is None
    assert "No better than the no-image baseline" in stdout or "Better than" in stdout
    assert result["n_galaxies"] == 5 and result["n_samples"] == 2
    assert "baseline_mean_nll" in result
    assert result["model"]["galmorph_model"] == "tiny"
    assert result["model"]["galmorph_views"] == "8"


def test_evaluate_only_unseen_leaves_out_the_galaxies_the_model_saw(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path, tmp_path: Path
) -> None:
    from galmorph.data.id_sets import ID_HASH_SCHEME, encode_ids

    status, _, err = run(capsys, "evaluate", catalog, "-m", model_path, "--only-unseen", *FAST)
    assert status == 2 and err.startswith("error: tiny does not record the galaxies"), err
    payload = torch.load(model_path, weights_only=False)
    ids = pd.read_csv(catalog, dtype={"id_str": str})["id_str"]
    payload["galmorph"]["training"]["split"] = {
        "id_hashes": {"scheme": ID_HASH_SCHEME, "val": encode_ids(ids.head(2))}}
    torch.save(payload, tmp_path / "saw.pt")
    out = tmp_path / "eval.json"
    status, stdout, err = run(capsys, "evaluate", catalog, "-m", tmp_path / "saw.pt",
                              "--only-unseen", "--views", "1", "--json", out, *FAST)
    assert status == 0, err
    assert "Left out 2 galaxies the model was trained or validated on" in stdout
    assert "Vote-count evaluation: 3 galaxies" in stdout
    assert json.loads(out.read_text())["n_seen"] == 2


def test_evaluate_draws_a_vote_models_confident_misses_largest_first(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], model_path: Path
) -> None:
    catalog = make_catalog(12)
    predictions, scores, grid = (catalog.parent / name
                                 for name in ("p.parquet", "e.json", "misses.png"))
    assert run(capsys, "predict", catalog, "-m", model_path, "-o", predictions, "--views", "1",
               "--backend", "torch", *FAST)[0] == 0
    with pytest.warns(GalmorphWarning, match="t10_arms_winding"):
        status, out, err = run(capsys, "evaluate", catalog, "-m", model_path, "--json", scores,
                               "--grid", grid, "--views", "1", "--backend", "torch", *FAST)
    assert status == 0, err

    # the misses, found again from the predicted fractions and the votes
    table = pd.read_parquet(predictions).merge(
        pd.read_csv(catalog, dtype={"id_str": str}), on="id_str")
    first_total = table[SCHEMA.questions[0].columns].sum(axis=1).to_numpy()
    misses = {}
    for question in SCHEMA.questions[:9]:  # the catalog has no votes for t10 and t11
        votes = table[question.columns].to_numpy(dtype=float)
        expected = table[[f"{a.full_name}_fraction" for a in question.answers]].to_numpy()
        truth, guess = votes.argmax(1), expected.argmax(1)
        rows = np.arange(len(table))
        shortfall = votes[rows, truth] / votes.sum(1).clip(1) - expected[rows, truth]
        for i in np.flatnonzero(confident_mask(votes, first_total) & (truth != guess)):
            if shortfall[i] > misses.get(table["id_str"][i], (-1.0, ""))[0]:
                misses[table["id_str"][i]] = (shortfall[i], question.name)
    assert misses, "an untrained model misses some confident answers"
    worst = json.loads(scores.read_text())["worst"]
    assert [(g["id_str"], g["question"]) for g in worst] == [
        (galaxy, question) for galaxy, (_, question) in
        sorted(misses.items(), key=lambda item: -item[1][0])]
    assert (f"Wrote {grid}: the {len(worst)} largest misses where most volunteers agreed"
            in " ".join(out.split()))
    assert Image.open(grid).size[0] > 0


def test_evaluate_backends_agree(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path
) -> None:
    results = {}
    for backend in ("torch", "onnx"):
        out = catalog.parent / f"{backend}.json"
        with pytest.warns(GalmorphWarning, match="t10_arms_winding"):
            status, _, err = run(capsys, "evaluate", catalog, "-m", model_path, "--json", out,
                                 "--backend", backend, "--views", "1", *FAST)
        assert status == 0, err
        results[backend] = json.loads(out.read_text())
    assert results["onnx"]["mean_nll"] == pytest.approx(results["torch"]["mean_nll"], rel=1e-4)
    # the option reaches the model: ONNX has no MC dropout
    status, _, err = run(capsys, "evaluate", catalog, "-m", model_path, "--backend", "onnx",
                         "--mc-samples", "2", *FAST)
    assert status == 2 and "--backend torch" in err


def test_evaluate_needs_vote_columns(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], model_path: Path
) -> None:
    bare = make_catalog(3, name="bare.csv", edit=lambda df: df[["id_str", "file_loc"]])
    status, _, err = run(capsys, "evaluate", bare, "-m", model_path, *FAST)
    assert status == 2 and "vote columns" in err and "Traceback" not in err


def test_evaluate_missing_model(capsys: pytest.CaptureFixture[str], catalog: Path) -> None:
    status, _, err = run(capsys, "evaluate", catalog, "-m", catalog.parent / "none.pt", *FAST)
    assert status == 2 and "none.pt" in err and "not found" in err


@pytest.mark.parametrize(("target", "message"), [
    ("metrics.txt", "--json {path}: the metrics are written as JSON: name the file metrics.json"),
    (".", "--json {path} is a folder: give a file name in it"),
])
def test_evaluate_checks_its_json_file_before_any_work(
    capsys: pytest.CaptureFixture[str], catalog: Path, model_path: Path,
    monkeypatch: pytest.MonkeyPatch, target: str, message: str,
) -> None:
    from galmorph.inference import evaluate

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model ran")

    monkeypatch.setattr(evaluate, "evaluate_catalog", never)
    path = catalog.parent / target
    status, _, err = run(capsys, "evaluate", catalog, "-m", model_path, "--json", path, *FAST)
    assert status == 2 and " ".join(err.split()) == f"error: {message.format(path=path)}"
    assert not (catalog.parent / "metrics.txt").exists()


def test_evaluate_says_when_votes_are_fractions(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], model_path: Path
) -> None:
    first = SCHEMA.questions[0].columns
    fractions = make_catalog(4, name="fractions.csv", edit=lambda df: df.assign(
        **{c: df[c] / df[first].sum(axis=1) for c in first}))
    status, _, err = run(capsys, "evaluate", fractions, "-m", model_path, *FAST)
    err = " ".join(err.split())
    assert status == 2 and err.startswith(f"error: {fractions}: vote columns t01_")
    assert "these look like vote fractions, not counts" in err and err.count("error:") == 1
