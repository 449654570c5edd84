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


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_training_on_an_unreadable_image_fails_before_writing_anything(
    capsys: pytest.CaptureFixture[str], make_catalog: Callable[..., Path], untrained_model: Path,
    command: str,
) -> None:
    catalog, truncated = _catalog_with_truncated_image(make_catalog)
    out = catalog.parent / "run"
    options = (["--schema", "gz2-no-odd", "--image-size", "32", "--split", "0.5", "0.5", "0"]
               if command == "train" else ["--label", "ring", "-m", str(untrained_model)])
    status = main([command, str(catalog), "-o", str(out), "--epochs", "1", "--num-workers", "0",
                   "--no-progress", *options])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:") and str(truncated) in err and "Traceback" not in err
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
