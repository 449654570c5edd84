"""``galmorph predict`` and ``galmorph embed`` on partitioned catalogs: a folder mirrored
into an output folder, on a local Dask cluster (``--workers``), an existing one
(``--scheduler``) or in this process; failed partitions listed, exit status 1."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from galmorph.cli import main
from galmorph.exceptions import GalmorphWarning
from galmorph.inference.dask_run import dask_client
from galmorph.inference.embeddings import read_embedding_info
from galmorph.inference.manifest import MANIFEST_NAME
from galmorph.inference.outputs import read_metadata
from galmorph.models.checkpoint import load_model

pytestmark = pytest.mark.timeout(300)

FAST = ["--device", "cpu", "--backend", "torch", "--no-progress"]
PARTS = [f"dataset/Norder=0/Dir=0/Npix={i}.parquet" for i in range(3)]
NAMES = ["--id-column", "objid", "--file-column", "cutout"]


@pytest.fixture
def hats(tmp_path: Path, demo_dir: Path, demo_catalog: pd.DataFrame) -> Path:
    """9 demo galaxies in 3 partitions, HATS-like: ``objid`` and ``cutout`` (relative to
    the root), no ``id_str``/``file_loc``."""
    root = tmp_path / "hats"
    (root / "images").mkdir(parents=True)
    frame = demo_catalog.head(9)[["id_str", "file_loc", "ra", "dec"]]
    for loc in frame["file_loc"]:
        shutil.copyfile(demo_dir / loc, root / loc)
    frame = frame.rename(columns={"id_str": "objid", "file_loc": "cutout"})
    for i, name in enumerate(PARTS):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[3 * i:3 * i + 3].to_parquet(root / name, index=False)
    (root / "properties").write_text("obs_collection=gz2_demo\n")
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_predict_on_workers_lists_a_failed_partition_and_a_rerun_finishes(
    capsys: pytest.CaptureFixture[str], hats: Path, tmp_path: Path, untrained_model: Path,
    demo_dir: Path,
) -> None:
    out = tmp_path / "preds"
    bad = pd.read_parquet(hats / PARTS[1]).iloc[0]
    (hats / bad["cutout"]).write_bytes(b"\xff\xd8 not a jpeg")

    status, stdout, stderr = run(capsys, "predict", hats, "-o", out, "-m", untrained_model,
                                 "--workers", "2", *NAMES, *FAST)

    assert status == 1, stderr
    assert "Wrote 2 partitions (6 galaxies)" in stdout
    assert "1 of 3 partitions failed" in stderr
    assert f"- {hats / PARTS[1]}: galaxy {bad['objid']}: " in " ".join(stderr.split())
    assert [(out / p).is_file() for p in PARTS] == [True, False, True]

    shutil.copyfile(demo_dir / bad["cutout"], hats / bad["cutout"])
    status, stdout, stderr = run(capsys, "predict", hats, "-o", out, "-m", untrained_model,
                                 *NAMES, *FAST)

    assert status == 0, stderr
    assert "Wrote 1 partition (3 galaxies)" in stdout and "skipped 2 already complete" in stdout
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    checksum = load_model(untrained_model).checksum
    assert sorted(manifest["partitions"]) == PARTS
    assert all(e["model_sha256"] == checksum for e in manifest["partitions"].values())
    assert read_metadata(out / PARTS[1])["galmorph_model_sha256"] == checksum
    assert pd.read_parquet(out / PARTS[1])["id_str"].tolist() == pd.read_parquet(
        hats / PARTS[1])["objid"].tolist()


@pytest.fixture
def scheduler() -> Iterator[str]:
    """The address of a local cluster of one worker (which leaves this process's
    environment as it was)."""
    with dask_client(workers=1) as client:
        yield client.scheduler_info()["address"]


def test_embed_a_glob_on_a_scheduler_skipping_missing_images(
    capsys: pytest.CaptureFixture[str], hats: Path, tmp_path: Path, untrained_model: Path,
    scheduler: str,
) -> None:
    out = tmp_path / "emb"
    gone = pd.read_parquet(hats / PARTS[2]).iloc[2]
    (hats / gone["cutout"]).unlink()
    pattern = hats / "**" / "Npix=*.parquet"  # rooted at hats/, where cutout paths start

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GalmorphWarning)
        status, stdout, stderr = run(
            capsys, "embed", pattern, "-o", out, "-m", untrained_model, "--views", "1",
            "--scheduler", scheduler, "--skip-missing-images", *NAMES, *FAST)

    assert status == 0, stderr  # checked first: a failed run gives no warning either
    relayed = [str(w.message) for w in caught if issubclass(w.category, GalmorphWarning)]
    assert any("Npix=2.parquet: skipping 1 of 3 rows" in m for m in relayed), (relayed, stderr)
    assert "Wrote 3 partitions (8 galaxies of 9; 1 left out: image missing or unreadable)" in (
        stdout)
    assert sorted(json.loads((out / MANIFEST_NAME).read_text())["partitions"]) == PARTS
    assert [read_embedding_info(out / name)[1] for name in PARTS] == [3, 3, 2]
    assert gone["objid"] not in set(pd.read_parquet(out / PARTS[2])["id_str"])


@pytest.mark.parametrize(("command", "extra", "message"), [
    ("embed", ["--pca", "4"], "--pca: not for partitioned catalogs"),
    ("predict", ["--devices", "2"], "--devices: not for partitioned catalogs"),
    ("predict", ["--workers", "2", "--num-workers", "2"], "--num-workers: each Dask worker"),
    ("embed", ["-o", "{hats}/out"], "inside the catalog's folder"),
    ("predict", ["-o", "{hats}.parquet"], "hats.parquet names a table file"),
    ("embed", ["--workers", "2", "--scheduler", "tcp://h:8786"], "--workers: not with --scheduler"),
    ("predict", ["--workers", "1", "--scheduler", "tcp://h:1"], "--workers: not with --scheduler"),
    ("embed", ["--input-size", "48"], "--input-size, --mean and --std are for external"),
    ("predict", ["--id-column", "nope"], "has no column 'nope' (given by --id-column)"),
])
def test_options_that_do_not_fit_a_partitioned_catalog(
    capsys: pytest.CaptureFixture[str], hats: Path, tmp_path: Path, untrained_model: Path,
    command: str, extra: list[str], message: str,
) -> None:
    extra = [e.format(hats=hats) for e in extra]
    output = [] if "-o" in extra else ["-o", str(tmp_path / "out")]

    status, stdout, stderr = run(capsys, command, hats, *output, "-m", untrained_model, *extra,
                                 *FAST)

    assert status == (1 if "--id-column" in extra else 2), stdout + stderr
    assert message in " ".join(stderr.split())


def test_dask_options_are_refused_for_one_file(
    capsys: pytest.CaptureFixture[str], small_catalog: Path, tmp_path: Path,
    untrained_model: Path,
) -> None:
    status, _, stderr = run(capsys, "predict", small_catalog, "-o", tmp_path / "p.parquet",
                            "-m", untrained_model, "--workers", "2", "--id-column", "x", *FAST)

    assert status == 2
    assert "--workers: for partitioned catalogs" in " ".join(stderr.split())


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_one_file_with_other_column_names(
    capsys: pytest.CaptureFixture[str], make_catalog, tmp_path: Path, untrained_model: Path,
    monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:
    """``objid`` and ``cutout`` columns, image paths relative to the catalog's folder, run
    from another folder: the same galaxies as with the standard names."""
    renamed = make_catalog(n=4, name="sdss.csv", edit=lambda f: f.rename(
        columns={"id_str": "objid", "file_loc": "cutout"}))
    standard = make_catalog(n=4)
    monkeypatch.chdir(tmp_path.parent)
    out = {name: tmp_path / f"{name}.parquet" for name in ("renamed", "standard")}

    status, _, stderr = run(capsys, command, renamed, "-o", out["renamed"], "-m",
                            untrained_model, *NAMES, *FAST)
    assert status == 0, stderr
    assert run(capsys, command, standard, "-o", out["standard"], "-m", untrained_model,
               *FAST)[0] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out["renamed"]),
                                  pd.read_parquet(out["standard"]))

    status, _, stderr = run(capsys, command, renamed, "-o", tmp_path / "x.parquet", "-m",
                            untrained_model, "--id-column", "objid", *FAST)
    assert status == 2 and f"{renamed}: missing required column(s) 'file_loc'" in stderr
    assert "--file-column" in " ".join(stderr.split())


def test_a_partition_without_rows_is_counted_in_the_summary(
    capsys: pytest.CaptureFixture[str], hats: Path, tmp_path: Path, untrained_model: Path,
) -> None:
    pd.read_parquet(hats / PARTS[1]).head(0).to_parquet(hats / PARTS[1], index=False)
    with pytest.warns(GalmorphWarning, match="has no rows: no output is written for it"):
        status, stdout, stderr = run(capsys, "predict", hats, "-o", tmp_path / "preds", "-m",
                                     untrained_model, *NAMES, *FAST)
    assert status == 0, stderr
    assert "Wrote 2 partitions (6 galaxies)" in stdout
    assert "1 had no rows (nothing written for it)" in " ".join(stdout.split())
