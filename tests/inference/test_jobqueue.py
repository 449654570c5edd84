"""SLURM clusters for partitioned catalogs: the job scripts of :func:`slurm_cluster`,
including the one docs/tutorial-dask.md builds. No SLURM is needed: a SLURMCluster
submits nothing until it is scaled, and these tests never scale one."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from galmorph.exceptions import GalmorphError
from galmorph.inference.hpc import slurm_cluster

pytest.importorskip("dask_jobqueue")

pytestmark = pytest.mark.timeout(120)

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial-dask.md"
LOOPBACK = {"scheduler_options": {"host": "127.0.0.1", "dashboard_address": None}}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture
def closing() -> Iterator[list]:
    """A list the test puts its clusters in; they are closed after it."""
    clusters: list = []
    yield clusters
    for cluster in clusters:
        cluster.close()


def _worker_command(script: str) -> str:
    (line,) = [x for x in script.splitlines() if "distributed.cli.dask_worker" in x]
    return line


def test_the_tutorials_gpu_cluster_runs_one_single_thread_worker_per_gpu_job(
    closing: list,
) -> None:
    (block,) = [b for b in _python_blocks(TUTORIAL.read_text()) if "print(cluster.job_script())"
                in b]
    namespace: dict = {}
    exec(compile(block, str(TUTORIAL), "exec"), namespace)
    cluster = namespace["cluster"]
    closing.append(cluster)

    script = cluster.job_script()

    sbatch = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH -p gpu" in sbatch
    assert "#SBATCH --cpus-per-task=8" in sbatch
    assert "#SBATCH --mem=30G" in sbatch  # 32 GB, as SLURM's GiB
    assert "#SBATCH -t 04:00:00" in sbatch
    assert "#SBATCH --gres=gpu:1" in sbatch
    command = _worker_command(script)
    assert "--nthreads 1" in command and "--nworkers" not in command  # one worker
    assert sys.executable in command  # the workers run this Python
    assert "source" in script.split(command)[0]  # the prologue runs before the worker
    assert not cluster.workers  # nothing submitted


def test_a_cpu_job_runs_one_single_thread_worker_per_core(closing: list) -> None:
    cluster = slurm_cluster(cores=16, memory="64GB", walltime="01:30:00", queue="cpu",
                            account="astro42", job_extra_directives=["--constraint=icelake"],
                            **LOOPBACK)
    closing.append(cluster)

    script = cluster.job_script()

    for line in ("#SBATCH -p cpu", "#SBATCH -A astro42", "#SBATCH --cpus-per-task=16",
                 "#SBATCH --mem=60G", "#SBATCH -t 01:30:00", "#SBATCH --constraint=icelake"):
        assert line in script.splitlines()
    assert "--gres" not in script
    command = _worker_command(script)
    assert "--nthreads 1" in command and "--nworkers 16" in command
    assert "--memory-limit 3.73GiB" in command  # the job's memory, shared
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert not cluster.workers


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gpus": 2}, "gpus must be 0 or 1"),
    ({"cores": 0}, "cores must be at least 1"),
    ({"processes": 4}, "sets processes itself"),
])
def test_shapes_that_break_one_thread_per_worker_are_refused(kwargs: dict, message: str) -> None:
    settings = {"cores": 4, "memory": "8GB", "walltime": "00:10:00", **kwargs}
    with pytest.raises(ValueError, match=message):
        slurm_cluster(**settings)


def test_without_dask_jobqueue_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(GalmorphError, match=r"pip install 'galmorph\[hpc\]'"):
        slurm_cluster(cores=4, memory="8GB", walltime="00:10:00")
