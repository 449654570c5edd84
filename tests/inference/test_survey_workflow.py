"""A survey-sized job in miniature: a HATS-like partitioned catalog with 64-bit ``objid``
ids and a ``cutout`` column, predicted and embedded a partition at a time, then an
anomaly session on the embeddings folder; every message names the partition it is about."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.anomaly.session import AnomalySession
from galmorph.cli import main
from galmorph.inference.partition_task import PartitionJob, job_model, run_partition
from galmorph.inference.partitions import find_partitions

FIRST_ID = 1237648720693755000  # beyond float64's exact integers
PIXELS = ("Npix=3.parquet", "Npix=8.parquet")


def _survey(root: Path, demo_dir: Path, demo_catalog: pd.DataFrame, bad: int | None) -> Path:
    """``root/cat``: 2 partitions of 3 galaxies under ``dataset/Norder=1/Dir=0``, with
    ``objid`` (int64), ``ra``, ``dec`` and ``cutout``; galaxy ``bad``'s image corrupt."""
    cat = root / "cat"
    (cat / "images").mkdir(parents=True)
    frame = demo_catalog.head(6)
    cutouts = []
    for loc in frame["file_loc"]:
        cutouts.append(f"images/{Path(loc).name}")
        shutil.copyfile(demo_dir / loc, cat / cutouts[-1])
    if bad is not None:
        (cat / cutouts[bad]).write_bytes(b"<html>not found</html>")
    table = pd.DataFrame({"objid": FIRST_ID + np.arange(6, dtype=np.int64) * 7919,
                          "ra": frame["ra"].to_numpy(), "dec": frame["dec"].to_numpy(),
                          "cutout": cutouts})
    folder = cat / "dataset" / "Norder=1" / "Dir=0"
    folder.mkdir(parents=True)
    for i, name in enumerate(PIXELS):
        table.iloc[3 * i:3 * i + 3].to_parquet(folder / name, index=False)
    return cat


def _options(model: Path) -> list[str]:
    return ["-m", str(model), "--views", "1", "--no-progress", "--id-column", "objid",
            "--file-column", "cutout"]


def test_a_partitions_warnings_name_its_file(
    tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame, untrained_model: Path
) -> None:
    cat = _survey(tmp_path, demo_dir, demo_catalog, bad=1)
    partition = find_partitions(cat)[0]
    job = PartitionJob("predict", str(untrained_model),
                       job_model(str(untrained_model)).checksum, tmp_path / "out",
                       {"views": 1, "num_workers": 0, "progress": False, "device": "cpu"},
                       id_column="objid", file_column="cutout", skip_unreadable_images=True)
    result = run_partition(partition, job)
    assert (result.rows, result.rows_written, result.rows_unreadable) == (3, 2, 1)
    (warning,) = [w for w in result.warnings if "left out" in w]
    assert warning.startswith(f"{partition.path}: left out 1 of 3 galaxies")
    assert str(FIRST_ID + 7919) in warning


def test_a_failed_partition_is_named_once(
    tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame, untrained_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cat = _survey(tmp_path, demo_dir, demo_catalog, bad=4)
    out = tmp_path / "emb"
    assert main(["embed", str(cat), "-o", str(out), *_options(untrained_model)]) == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "  - " in line]
    assert line.count(PIXELS[1]) == 1, line
    assert str(FIRST_ID + 4 * 7919) in line


def test_an_anomaly_session_starts_on_an_embeddings_folder(
    tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame, untrained_model: Path,
) -> None:
    cat = _survey(tmp_path, demo_dir, demo_catalog, bad=None)
    emb = tmp_path / "emb"
    assert main(["embed", str(cat), "-o", str(emb), *_options(untrained_model)]) == 0
    session = tmp_path / "hunt.db"
    assert main(["anomaly", "start", str(emb), "--session", str(session), "--pca", "2",
                 "--batch-size", "2"]) == 0
    with AnomalySession.open(session) as opened:
        ids = opened.embeddings.ids.tolist()
    assert sorted(ids) == sorted(str(FIRST_ID + i * 7919) for i in range(6))
