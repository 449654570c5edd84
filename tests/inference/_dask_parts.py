"""Shared by ``test_dask_run_cluster.py`` and ``test_dask_run_local.py``: a partitioned
demo catalog and the job run on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from galmorph.inference.partition_task import PartitionJob, job_model
from galmorph.inference.partitions import Partition, find_partitions

OPTIONS = {"device": "cpu", "backend": "torch", "num_workers": 0, "progress": False,
           "views": 1}
N_PARTS, PER_PART = 4, 3
PARTS = [f"dataset/Norder=0/Dir=0/Npix={i}.parquet" for i in range(N_PARTS)]


def partitioned_catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame
                        ) -> list[Partition]:
    """12 demo galaxies in 4 partitions of a HATS-like layout; images in ``cat/images``."""
    root = tmp_path / "cat"
    (root / "images").mkdir(parents=True)
    frame = demo_catalog.head(N_PARTS * PER_PART)[["id_str", "file_loc", "ra", "dec"]]
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    for i, name in enumerate(PARTS):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[i * PER_PART:(i + 1) * PER_PART].to_parquet(root / name, index=False)
    return find_partitions(root)


def _job(model: Path, out: Path, kind: str = "predict") -> PartitionJob:
    return PartitionJob(kind, str(model), job_model(str(model)).checksum, out, OPTIONS)


def _outputs(out: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(out / name) for name in PARTS], ignore_index=True)

