"""Shared fixtures: small real catalogs built from the bundled GZ2 demo data.

- ``demo_dir``: the bundled ``galmorph/demo_data/gz2_demo`` folder (630 galaxies).
- ``demo_catalog``: its catalog as a DataFrame (session-wide: copy before editing).
- ``make_catalog(n=8, name="catalog.csv", edit=None)``: writes the first ``n``
  demo galaxies to ``tmp_path/name`` (CSV) with their real jpgs copied to
  ``tmp_path/images``; ``edit`` may change the DataFrame before it is written.
- ``small_catalog``: ``make_catalog()``, the path of an 8-galaxy catalog.
- ``shared_data``: ``../shared/data`` next to the repository; skips the test if absent.
- ``split_embeddings(file, folder, sizes)``: an embeddings file cut into partition files
  ``folder/part=I/emb.parquet`` (its metadata kept), as ``galmorph embed`` writes them for
  a partitioned catalog (without ``_manifest.json``).
- ``tiny_model``: a vote-count model (convnext_atto, 32 px, gz2-no-odd) trained for
  one epoch on 120 bundled galaxies, once per session; a ``TrainResult`` whose
  ``model_path`` loads with :func:`galmorph.models.checkpoint.load_model`.
- ``bn_model``: an untrained ``test_resnet`` vote model (it has BatchNorm), 32 px.
- ``wide_field_catalog``: 16 bundled galaxies pasted into black images twice as wide
  (so the galaxies fill half as much of them), as a CSV: another survey's conventions.
- ``write_rgb16(path, data)``: writes ``(H, W, 3)`` values as a 16-bit colour PNG
  (``.png``) or uncompressed TIFF (other endings), which Pillow cannot write.
- ``demo_run``: ``galmorph demo`` on 60 bundled galaxies with small settings, run once per
  session (the demo test and the browser test read its report); its output folder and
  what it printed.

Example::

    def test_something(make_catalog):
        path = make_catalog(4, edit=lambda df: df.assign(ring=1))
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from galmorph.data import bundled

if TYPE_CHECKING:
    from galmorph.training.train import TrainResult

# PyTorch's OpenMP threads wait for each other at the end of every operation by
# spinning. When the cores are shared (loader workers, the tests' subprocesses, other
# jobs on the machine), a spinning thread holds the core its partner needs: with another
# job on the 2 cores, `bench_finetune.py --quick` took 193 s instead of 29 s and the
# session's tiny model 27 s instead of 2 s, with the same results. Sleeping instead
# changes no number. OpenMP reads this once, when torch loads, so it is set here, before
# anything imports torch; the tests' subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

MakeCatalog = Callable[..., Path]


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return bundled.demo_dir()


@pytest.fixture(scope="session")
def demo_catalog(demo_dir: Path) -> pd.DataFrame:
    return pd.read_csv(demo_dir / "catalog.csv", dtype={"id_str": str, "file_loc": str})


@pytest.fixture
def make_catalog(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> MakeCatalog:
    def make(
        n: int = 8,
        name: str = "catalog.csv",
        edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    ) -> Path:
        frame = demo_catalog.head(n).copy()
        (tmp_path / "images").mkdir(exist_ok=True)
        for loc in frame["file_loc"]:
            target = tmp_path / loc
            if not target.exists():
                shutil.copyfile(demo_dir / loc, target)
        if edit is not None:
            frame = edit(frame)
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    return make


@pytest.fixture
def small_catalog(make_catalog: MakeCatalog) -> Path:
    return make_catalog()


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "gz2_sdss" / "catalog.csv").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, demo_catalog: pd.DataFrame) -> TrainResult:
    folder = tmp_path_factory.mktemp("tiny_model")
    frame = demo_catalog.head(120).copy()
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    from galmorph.training.train import train

    return train(
        frame, "gz2-no-odd", folder, encoder="convnext_atto", image_size=32, epochs=1,
        batch_size=16, split_seed=0, num_workers=0, progress=False, name="tiny",
    )


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Keep ONNX exports made by tests (and their subprocesses) out of the home folder."""
    import os

    previous = os.environ.get("GALMORPH_ONNX_CACHE")
    os.environ["GALMORPH_ONNX_CACHE"] = str(tmp_path_factory.mktemp("onnx_cache"))
    yield
    if previous is None:
        os.environ.pop("GALMORPH_ONNX_CACHE", None)
    else:
        os.environ["GALMORPH_ONNX_CACHE"] = previous


def _untrained_vote_model(folder: Path, encoder: str, name: str) -> Path:
    """A tiny untrained gz2-no-odd vote model (32 px) of ``encoder``, saved in ``folder``."""
    import torch

    from galmorph.data.image_config import ImageConfig
    from galmorph.data.schemas import get_schema
    from galmorph.models.checkpoint import build_model, save_model
    from galmorph.training.train import model_metadata

    schema = get_schema("gz2-no-odd")
    metadata = model_metadata(schema, ImageConfig.for_sdss_gz2(size=32), encoder, 0.2,
                              {}, np.full(schema.n_answers, 3.0), name)
    torch.manual_seed(0)
    return save_model(build_model(metadata), metadata, folder / f"{name}.pt")


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained ``test_convnext`` gz2-no-odd vote model (32 px), saved once."""
    return _untrained_vote_model(tmp_path_factory.mktemp("untrained"), "test_convnext", "tiny")


@pytest.fixture(scope="session")
def bn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained ``test_resnet`` gz2-no-odd vote model (32 px, BatchNorm), saved once."""
    return _untrained_vote_model(tmp_path_factory.mktemp("bn_model"), "test_resnet", "tiny-bn")


@pytest.fixture(scope="session")
def wide_field_catalog(tmp_path_factory: pytest.TempPathFactory,
                       demo_catalog: pd.DataFrame) -> Path:
    """16 bundled galaxies, each in the middle of a black image twice as wide (CSV)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("wide_field")
    (root / "images").mkdir()
    frame = demo_catalog.head(16)[["id_str", "file_loc"]]
    for loc in frame["file_loc"]:
        canvas = Image.new("RGB", (256, 256))
        canvas.paste(Image.open(bundled.demo_dir() / loc), (64, 64))
        canvas.save(root / loc)
    frame.to_csv(root / "catalog.csv", index=False)
    return root / "catalog.csv"


@pytest.fixture(scope="session")
def web_files(tmp_path_factory: pytest.TempPathFactory, demo_catalog: pd.DataFrame,
              untrained_model: Path) -> dict[str, Path]:
    """40 bundled galaxies with a tiny untrained model's embeddings and predictions."""
    from galmorph.cli import main

    root = tmp_path_factory.mktemp("web")
    frame = demo_catalog.head(40)
    (root / "images").mkdir()
    for loc in frame["file_loc"]:
        shutil.copyfile(bundled.demo_dir() / loc, root / loc)
    frame.to_csv(root / "catalog.csv", index=False)
    cpu = ["--device", "cpu", "--num-workers", "0", "--no-progress"]
    assert main(["embed", str(root / "catalog.csv"), "-m", str(untrained_model), "-o",
                 str(root / "emb.parquet"), "--pca", "8", *cpu]) == 0
    assert main(["predict", str(root / "catalog.csv"), "-m", str(untrained_model), "-o",
                 str(root / "predictions.parquet"), "--backend", "torch", *cpu]) == 0
    return {"root": root, "catalog": root / "catalog.csv", "model": untrained_model,
            "embeddings": root / "emb.parquet", "predictions": root / "predictions.parquet"}


def _demo_subset(folder: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Callable:
    rings = demo_catalog.index[demo_catalog["ring"] == 1][:14]
    others = demo_catalog.index[demo_catalog["ring"] == 0][:46]
    frame = demo_catalog.loc[np.sort(np.concatenate([rings, others]))].reset_index(drop=True)
    (folder / "images").mkdir()
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, folder / loc)

    def make(edit=None) -> Path:
        path = folder / "catalog.csv"
        (edit(frame) if edit else frame).to_csv(path, index=False)
        return path

    return make


@pytest.fixture
def demo_subset(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Callable:
    """Writes 60 bundled galaxies, 14 of them rings, with their images; ``edit`` may
    change the table first."""
    return _demo_subset(tmp_path, demo_dir, demo_catalog)


#: Small sizes of ``galmorph demo``'s steps, for :func:`demo_run`.
DEMO_OPTIONS = ["--epochs", "2", "--anomaly-labels", "12", "--ring-labels", "5",
                "--device", "cpu"]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path,
             demo_catalog: pd.DataFrame) -> tuple[Path, str]:
    """``galmorph demo`` with :data:`DEMO_OPTIONS` on the galaxies of ``demo_subset``, run
    once: its output folder, and what it printed."""
    from galmorph.cli import main

    root = tmp_path_factory.mktemp("demo")
    catalog = _demo_subset(root, demo_dir, demo_catalog)()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["demo", "--data", str(catalog), "--out", str(root / "out"),
                       *DEMO_OPTIONS])
    assert status == 0, printed.getvalue()
    return root / "out", printed.getvalue()


@pytest.fixture(scope="session")
def split_embeddings() -> Callable[[Path, Path, list[int]], Path]:
    """Cuts an embeddings file into partitions of ``sizes`` rows; returns the folder."""
    import pyarrow.parquet as pq

    def split(file: Path, folder: Path, sizes: list[int]) -> Path:
        table = pq.read_table(file)
        assert sum(sizes) == table.num_rows
        for i, start in enumerate(np.cumsum([0, *sizes[:-1]])):
            (folder / f"part={i}").mkdir(parents=True)
            pq.write_table(table.slice(int(start), sizes[i]), folder / f"part={i}" / "emb.parquet")
        return folder

    return split


def _write_png_rgb16(path: Path, data: np.ndarray) -> Path:
    """A 16-bit RGB PNG of ``(H, W, 3)`` values (Pillow cannot write one): big-endian
    samples, filter 0 on each row, one zlib IDAT chunk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    height, width, _ = data.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in data)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, colour
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def _write_tiff_rgb16(path: Path, data: np.ndarray) -> Path:
    """An uncompressed little-endian 16-bit RGB TIFF of ``(H, W, 3)`` values: one IFD of
    ten tags, BitsPerSample stored after it, then the pixels in one strip."""
    height, width, _ = data.shape
    pixels = data.astype("<u2").tobytes()
    bits_at = 8 + 2 + 10 * 12 + 4
    pixels_at = bits_at + 6
    short, long = 3, 4
    tags = [(256, short, 1, width), (257, short, 1, height), (258, short, 3, bits_at),
            (259, short, 1, 1), (262, short, 1, 2), (273, long, 1, pixels_at),
            (277, short, 1, 3), (278, short, 1, height), (279, long, 1, len(pixels)),
            (284, short, 1, 1)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII" if kind == long or tag == 258 else "<HHIHH", tag, kind, count,
                    value, *(() if kind == long or tag == 258 else (0,)))
        for tag, kind, count, value in tags)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
                     + struct.pack("<3H", 16, 16, 16) + pixels)
    return path


@pytest.fixture(scope="session")
def write_rgb16() -> Callable[[Path, np.ndarray], Path]:
    def write(path: Path, data: np.ndarray) -> Path:
        return (_write_png_rgb16 if path.suffix == ".png" else _write_tiff_rgb16)(path, data)
    return write
