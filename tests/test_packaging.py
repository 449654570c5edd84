"""What an astronomer installs: the source distribution, the wheel built from it, and the
``galmorph`` command of that wheel, run away from this checkout.

The development install is editable, so it reads every file straight from ``src/``: a
file left out of ``package-data`` (the starter's weights, the demo galaxies, the web
app's pages) would pass every other test and break every installed copy. Here the
sdist is built as PyPI would get it, the wheel from that sdist (as conda-forge builds),
and the wheel's files are compared with the files git tracks under ``src/galmorph``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from zipfile import ZipFile

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    """The files git tracks in this checkout (paths relative to it)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the project's files")
    return _run("git", "ls-files", cwd=ROOT).splitlines()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, tracked: list[str]) -> Path:
    """The wheel built from the sdist of a copy of this checkout's tracked files (as a
    fresh clone has them: no ``*.egg-info`` of an earlier build, which setuptools would
    read its file list from)."""
    out = tmp_path_factory.mktemp("dist")
    for name in tracked:
        (out / "clone" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, out / "clone" / name)
    _run(sys.executable, "-c",
         "import setuptools.build_meta as b, sys; print(b.build_sdist(sys.argv[1]))", out,
         cwd=out / "clone")
    (sdist,) = out.glob("galmorph-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(out / "unpacked", filter="data")
    (source,) = (out / "unpacked").iterdir()
    _run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "-q", "-w", out / "wheels", cwd=source)
    (built,) = (out / "wheels").glob("galmorph-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel: Path, tracked: list[str]) -> None:
    expected = {path.removeprefix("src/") for path in tracked if path.startswith("src/")}
    packed = set(ZipFile(wheel).namelist())
    assert sorted(expected - packed) == []
    assert {"galmorph/weights/gz2-starter.pt", "galmorph/web/static/index.html",
            "galmorph/demo_data/gz2_demo/PROVENANCE.md", "galmorph/py.typed"} <= packed


def test_the_installed_command_runs_away_from_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    _run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel,
         cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = _run(sys.executable, "-c", "import galmorph; print(galmorph.__file__)",
                 cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(site)
    command = (sys.executable, site / "bin" / "galmorph")
    _run(*command, "demo-data", "demo", cwd=tmp_path, env=env)
    catalog = pd.read_csv(tmp_path / "demo" / "catalog.csv")
    assert len(catalog) == 630
    catalog.head(3).to_csv(tmp_path / "demo" / "three.csv", index=False)
    said = _run(*command, "predict", "demo/three.csv", "-o", "p.csv", "--views", "1",
                "--num-workers", "0", "--no-progress", cwd=tmp_path, env=env)
    assert "model gz2-starter" in said
    predicted = pd.read_csv(tmp_path / "p.csv", comment="#")
    assert predicted["id_str"].tolist() == catalog["id_str"].head(3).tolist()
