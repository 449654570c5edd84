"""Errors the command line meets at its boundary: one ``error:`` line, exit status 2.

Images that fail in a loader worker process, and output files that cannot be written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main

FAST = ["--no-progress", "--device", "cpu", "--views", "1"]


def _corrupt_row(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[3, "file_loc"] = "images/truncated.jpg"
    return frame


def _catalog_with_truncated_image(make_catalog: Callable[..., Path]) -> tuple[Path, Path]:
    catalog = make_catalog(6, edit=_corrupt_row)
    good = catalog.parent / pd.read_csv(catalog)["file_loc"][0]
    truncated = catalog.parent / "images" / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    return catalog, truncated


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_an_image_failing_in_a_loader_worker_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
    command: str,
) -> None:
    catalog, truncated = _catalog_with_truncated_image(make_catalog)
    out = catalog.parent / "out.parquet"
    status = main([command, str(catalog), "-m", str(untrained_model), "-o", str(out),
                   "--num-workers", "1", "--backend", "torch", *FAST])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert str(truncated) in err and "corrupt or truncated" in err
    galaxy = pd.read_csv(catalog, dtype={"id_str": str})["id_str"][3]
    assert f"error: galaxy {galaxy}: image file {truncated}" in " ".join(err.split())
    assert "Traceback" not in err and "worker" not in err
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
) -> None:
    catalog = make_catalog(4)
    not_a_folder = catalog  # a file, used as the output's folder
    out = not_a_folder / "out.parquet"
    status = main(["predict", str(catalog), "-m", str(untrained_model), "-o", str(out),
                   "--num-workers", "0", *FAST])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:") and str(not_a_folder) in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "finetune", "adapt"])
def test_training_on_an_unreadable_image_fails_before_writing_anything(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
    command: str,
) -> None:
    catalog, truncated = _catalog_with_truncated_image(make_catalog)
    out = catalog.parent / "run"
    options = {"train": ["--schema", "gz2-no-odd", "--image-size", "32", "--split", "0.5",
                         "0.5", "0", "--epochs", "1"],
               "finetune": ["--label", "ring", "-m", str(untrained_model), "--epochs", "1"],
               "adapt": ["-m", str(untrained_model)]}[command]
    if command == "adapt":
        out = out.with_suffix(".pt")
    status = main([command, str(catalog), "-o", str(out), "--num-workers", "0",
                   "--no-progress", *options])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:") and str(truncated) in err and "Traceback" not in err
    assert f"; galmorph validate {catalog} lists every image that cannot be read" in " ".join(
        err.split())
    assert not out.exists()  # no logs, no empty folder


def test_brackets_in_messages_are_printed_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path such as ``run[bold]/cat.csv`` is not read as rich markup (nor lost)."""
    missing = tmp_path / "run[bold]" / "cat[yes, no].csv"
    assert main(["validate", str(missing)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"catalog {missing} does not exist" in err
    target = tmp_path / "copy[bold]"
    assert main(["demo-data", str(target)]) == 0
    assert f"demo catalog: {target / 'catalog.csv'} (630 galaxies)" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["demo-data", "{file}"], "{file} is a file, not a folder: give a folder (or a new name)"),
    (["demo-data", "{file}/demo"], "cannot write {file}/demo: {file} is a file, not a folder"),
    (["export", "-m", "{model}", "-o", "{file}/m.onnx"],
     "cannot write -o {file}/m.onnx: {file} is a file, not a folder"),
    (["train", "{file}", "-o", "{file}", "--epochs", "1", "--split", "0.5", "0.5", "0",
      "--image-size", "32", "--num-workers", "0", "--no-progress"],
     "{file} is a file, not a folder: give a folder (or a new name)"),
])
def test_a_file_where_a_folder_is_needed_is_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
    make_catalog: Callable[..., Path], untrained_model: Path,
) -> None:
    """Before: 'error: File exists: cat.csv' or 'error: Not a directory: cat.csv/demo'."""
    catalog = make_catalog(4)
    fill = {"file": str(catalog), "model": str(untrained_model)}
    assert main([arg.format(**fill) for arg in argv]) == 2
    assert capsys.readouterr().err == f"error: {message.format(**fill)}\n"


@pytest.mark.parametrize("argv", [
    ["similar-eval", "{emb}", "--catalog", "{cat}", "--json", "{emb}"],
    ["anomaly", "benchmark", "{emb}", "--truth", "{cat}", "--score-column", "ring",
     "--json", "{emb}"],
])
def test_json_results_never_replace_an_input(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    make_catalog: Callable[..., Path],
) -> None:
    """Before, ``--json EMB.parquet`` wrote the results over the embeddings."""
    emb = tmp_path / "emb.parquet"
    emb.write_bytes(b"embeddings")
    fill = {"emb": str(emb), "cat": str(make_catalog(4))}
    assert main([arg.format(**fill) for arg in argv]) == 2
    assert capsys.readouterr().err == (f"error: --json {emb}: the results are written as JSON: "
                                       "name the file emb.json\n")
    assert emb.read_bytes() == b"embeddings"


def test_embed_never_writes_over_its_catalog(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
) -> None:
    catalog = make_catalog(4)
    table = catalog.with_suffix(".parquet")
    pd.read_csv(catalog).to_parquet(table)
    before = table.read_bytes()
    assert main(["embed", str(table), "-m", str(untrained_model), "-o", str(table), *FAST]) == 2
    assert capsys.readouterr().err == (f"error: the output {table} would overwrite the catalog: "
                                       "nothing was written; name another file\n")
    assert table.read_bytes() == before


@pytest.mark.parametrize(("command", "example"), [
    ("predict", "predictions.parquet"), ("embed", "embeddings.parquet"),
])
@pytest.mark.parametrize("folder_name", ["results", "results.parquet"])
def test_an_output_that_is_a_folder_is_named_as_one(
    command: str, example: str, folder_name: str, capsys: pytest.CaptureFixture[str],
    make_catalog: Callable[..., Path], untrained_model: Path,
) -> None:
    """Before: 'no extension' for a folder, or a failure after the work for x.parquet/."""
    catalog = make_catalog(4)
    folder = catalog.parent / folder_name
    folder.mkdir()
    assert main([command, str(catalog), "-m", str(untrained_model), "-o", str(folder),
                 *FAST]) == 2
    assert capsys.readouterr().err == (f"error: cannot write {folder}: it is a folder; name the "
                                       f"output file, e.g. {folder / example}\n")
    assert list(folder.iterdir()) == []


def test_a_catalog_error_naming_rows_says_how_they_are_numbered(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], tmp_path: Path,
) -> None:
    def repeat(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[1, "id_str"] = frame.loc[0, "id_str"]
        return frame

    catalog = make_catalog(4, edit=repeat)
    assert main(["predict", str(catalog), "-o", str(tmp_path / "p.csv"), *FAST]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(rows 0, 1)" in err and "Rows are numbered from 0, the first after the header" in err
    assert main(["predict", str(tmp_path / "none.csv"), "-o", str(tmp_path / "p.csv")]) == 2
    assert "Rows are numbered" not in capsys.readouterr().err


def test_finetune_checks_n_blocks_against_the_models_encoder(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
) -> None:
    catalog = make_catalog(6)
    out = catalog.parent / "run"
    status = main(["finetune", str(catalog), "--label", "ring", "-m", str(untrained_model),
                   "-o", str(out), "--n-blocks", "99", "--epochs", "1", "--num-workers", "0",
                   "--no-progress"])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 2
    assert "error: cannot train 99 blocks of layers: this model's encoder has" in err
    assert "give --n-blocks from 0 to" in err and not out.exists()


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_grid_never_replaces_a_galaxys_image(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
    command: str,
) -> None:
    catalog = make_catalog(4)
    image = catalog.parent / pd.read_csv(catalog)["file_loc"].iloc[2]
    before = image.read_bytes()
    out = catalog.parent / "out.csv"
    status = main([command, str(catalog), "-m", str(untrained_model),
                   *(["-o", str(out)] if command == "predict" else []),
                   "--grid", str(catalog.parent / "images" / ".." / "images" / image.name),
                   "--num-workers", "0", *FAST])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 2 and "is the image of a galaxy in the catalog" in err
    assert image.read_bytes() == before and not out.exists()  # refused before any work


def test_a_grid_beside_a_catalog_without_images_gets_the_catalogs_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, untrained_model: Path,
) -> None:
    catalog = tmp_path / "cat.csv"
    pd.DataFrame({"id_str": ["a", "b"], "ra": [1.0, 2.0]}).to_csv(catalog, index=False)
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"an earlier grid")
    status = main(["predict", str(catalog), "-m", str(untrained_model), "-o",
                   str(tmp_path / "out.csv"), "--grid", str(grid), *FAST])
    err = " ".join(capsys.readouterr().err.split())
    assert status == 2 and "missing required column(s) 'file_loc'" in err, err
