"""Dask clusters of SLURM jobs for partitioned catalogs (dask-jobqueue's ``SLURMCluster``).

:func:`galmorph.inference.dask_run.run_partitions` wants worker processes of one
thread each: a worker holds one partition and its model at a time. A
:class:`dask_jobqueue.SLURMCluster` gives each worker ``cores / processes``
threads, so :func:`slurm_cluster` sets them for one of two kinds of job:

* CPU nodes (``gpus=0``): a job of ``cores`` CPUs runs ``cores`` worker
  processes of one thread each (``--nworkers N --nthreads 1``); Dask's nanny
  sets ``OMP_NUM_THREADS=1`` in them, so PyTorch computes on one core each.
  ``memory`` is shared between them.
* GPU nodes (``gpus=1``): a job runs one worker with one thread, one GPU
  (``#SBATCH --gres=gpu:1``) and ``cores`` CPUs (``--cpus-per-task``) for it;
  run the partitions with ``device="cuda"`` (``galmorph predict --device cuda``).
  One GPU per job: add GPUs with more jobs.

The cluster's scheduler runs in this process. Nothing is submitted until
``cluster.scale(jobs=N)`` or ``cluster.adapt(maximum_jobs=N)``;
``cluster.job_script()`` shows the ``sbatch`` script each job will run. The
workers run the Python of this process (``python=`` changes it) and need the
catalog, the images and the model at the same paths (a shared file system).

Example:
    >>> cluster = slurm_cluster(cores=8, memory="32GB", walltime="04:00:00",
    ...                         queue="gpu", gpus=1)  # doctest: +SKIP
    >>> print(cluster.job_script())  # doctest: +SKIP
    >>> cluster.scale(jobs=4)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster

#: Keyword arguments of SLURMCluster that :func:`slurm_cluster` sets itself.
SET_HERE = ("processes", "job_cpu", "cores")


def slurm_cluster(
    *,
    cores: int,
    memory: str,
    walltime: str,
    queue: str | None = None,
    account: str | None = None,
    gpus: int = 0,
    job_extra_directives: Sequence[str] = (),
    **kwargs: Any,
) -> SLURMCluster:
    """A SLURMCluster whose jobs run one-thread workers: one per CPU, or one per GPU.

    Args:
        cores: CPUs per job (``--cpus-per-task``); with ``gpus=0`` also the
            worker processes per job.
        memory: memory per job (``--mem``), e.g. ``"32GB"``; split between the
            job's workers.
        walltime: time limit of each job (``-t``), e.g. ``"04:00:00"``.
        queue: the SLURM partition (``-p``); account: the account (``-A``).
        gpus: 0 (CPU workers) or 1 (one GPU worker per job).
        job_extra_directives: more ``#SBATCH`` options, e.g. ``["--constraint=a100"]``.
        kwargs: other keyword arguments of :class:`dask_jobqueue.SLURMCluster`
            (``job_script_prologue``, ``interface``, ``local_directory``,
            ``log_directory``, ``python``, ``scheduler_options``...).

    Raises:
        GalmorphError: when dask-jobqueue is not installed.
        ValueError: for ``gpus`` other than 0 or 1, ``cores`` below 1, or a
            keyword argument this function sets (``processes``, ``job_cpu``).
    """
    if gpus not in (0, 1):
        raise ValueError(f"gpus must be 0 or 1 (one GPU per job; add jobs for more), got {gpus}")
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    clashing = sorted(set(kwargs) & set(SET_HERE))
    if clashing:
        raise ValueError(f"slurm_cluster sets {', '.join(clashing)} itself: leave them out")
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise GalmorphError("SLURM clusters need dask-jobqueue: pip install 'galmorph[hpc]' "
                            "(or pip install dask-jobqueue)") from None
    directives = list(job_extra_directives)
    if gpus:
        directives.insert(0, "--gres=gpu:1")
        shape = {"cores": 1, "processes": 1, "job_cpu": cores}
    else:
        shape = {"cores": cores, "processes": cores}
    return SLURMCluster(memory=memory, walltime=walltime, queue=queue, account=account,
                        job_extra_directives=directives, **shape, **kwargs)
