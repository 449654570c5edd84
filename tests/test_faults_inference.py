"""Fault tests of ``galmorph predict`` and ``embed``: killed at seeded points, then resumed.

The process machinery (kill points, the forkserver) is in ``tests/_faults.py``. After
the kill there is no output file, or a complete one; the resumed run computes only the
rows no finished part holds, and its output has every id once, in catalog order, with
the uninterrupted run's values.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests._faults import SEED, in_parallel, run_galmorph, start_forkserver


@pytest.fixture(scope="module", autouse=True)
def forkserver() -> None:
    """Start the forkserver (and its imports) before any run is timed."""
    start_forkserver()


# ------------------------------------------------------- prediction, embedding
N_GALAXIES = 37  # chunks of 8: 8, 8, 8, 8, 5
CHUNK = 8


def _inference_argv(command: str, catalog: Path, out: Path, model: Path) -> list[str | Path]:
    argv: list[str | Path] = [
        command, catalog, "-m", model, "-o", out, "--chunk-size", str(CHUNK), "--batch-size", "3",
        "--num-workers", "0", "--device", "cpu", "--no-progress",
    ]
    return [*argv, "--pca", "3"] if command == "embed" else argv


def _inference_kill_points(output: str, rng: random.Random) -> list[tuple[str, str, bool]]:
    """(name, hook, resume on the killed run) for a predict/embed run."""
    first, second = sorted(rng.sample(range(1, N_GALAXIES + 1), 2))
    return [
        ("after some images", f"items:{first}", True),
        ("after more images, killed run not resumable", f"items:{second}", False),
        ("writing a part", f"part:{rng.randint(1, 4)}:{rng.uniform(0.1, 0.9):.2f}", True),
        ("streaming the output", f"stream:{rng.randint(1, 4)}", True),
        ("renaming the output into place", f"replace:{output}", True),
        ("a random moment", f"delay:{rng.uniform(0.2, 0.9):.2f}", True),
    ]


def _read_output(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _rows_in_parts(folder: Path) -> int:
    """Rows of the finished parts of a resumable run (``rows-START-STOP.parquet``)."""
    if not folder.is_dir():
        return 0
    spans = [p.stem.split("-")[1:] for p in folder.glob("rows-*.parquet")]
    return sum(int(stop) - int(start) for start, stop in spans)


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_inference_killed_anywhere_resumes_without_lost_or_repeated_rows(
    command: str, make_catalog: Callable[..., Path], untrained_model: Path, tmp_path: Path
) -> None:
    catalog = make_catalog(N_GALAXIES)
    ids = pd.read_csv(catalog, dtype={"id_str": str})["id_str"].tolist()
    reference_out = tmp_path / "reference" / "out.parquet"
    reference = run_galmorph(_inference_argv(command, catalog, reference_out, untrained_model),
                             tmp_path)
    assert reference.exitcode == 0, reference.tail()
    expected = _read_output(reference_out)
    assert expected["id_str"].tolist() == ids
    values = [c for c in expected.columns if expected[c].dtype.kind == "f"]

    rng = random.Random(f"{SEED}-{command}")
    points = _inference_kill_points("out.parquet", rng)

    def scenario(number: int, name: str, hook: str, resume_first: bool) -> dict:
        folder = tmp_path / f"killed-{number}"
        out = folder / "out.parquet"
        argv = _inference_argv(command, catalog, out, untrained_model)
        first = [*argv, "--resume"] if resume_first else argv
        if hook.startswith("delay:"):
            killed = run_galmorph(first, tmp_path, kill_after=float(hook[6:]) * reference.seconds)
        else:
            killed = run_galmorph(first, tmp_path, hook=hook)
            assert killed.killed, f"{name} ({hook}) was not reached:\n{killed.tail()}"
        if out.exists():  # a complete output, or none
            assert _read_output(out)["id_str"].tolist() == ids, name
        done_rows = _rows_in_parts(out.with_name(out.name + ".parts"))

        resumed = run_galmorph([*argv, "--resume"], tmp_path)
        assert resumed.exitcode == 0, f"{name} ({hook}):\n{resumed.tail()}"
        table = _read_output(out)
        assert table["id_str"].tolist() == ids, name  # none missing, none twice, in order
        np.testing.assert_allclose(table[values].to_numpy(), expected[values].to_numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
        assert list(folder.iterdir()) == [out], name  # no parts, no temporary files
        assert resumed.items == N_GALAXIES - done_rows, name  # finished chunks were reused
        return {"name": name, "hook": hook, "killed": killed.killed, "reused_rows": done_rows,
                "cpu": resumed.cpu}

    results = in_parallel([
        lambda i=i, p=p: scenario(i, *p) for i, p in enumerate(points)
    ])
    cpu = reference.cpu + sum(r["cpu"] for r in results)  # type: ignore[index, operator]
    print(json.dumps({"runs": results, "cpu_seconds_of_finished_runs": round(cpu, 1)}, indent=1))
    assert sum(r["killed"] for r in results) >= 5  # type: ignore[index]
    assert any(r["reused_rows"] for r in results)  # type: ignore[index]
