"""Dask clusters for partitioned catalogs: of SLURM jobs (dask-jobqueue's ``SLURMCluster``),
local, or running elsewhere (:func:`dask_client`).

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

:func:`dask_client` connects to a running scheduler by its address, or starts a
local cluster of worker processes; their Ctrl-C is this process's (they ignore
SIGINT: they stop when it closes the cluster, and print no tracebacks of their own).

Example:
    >>> cluster = slurm_cluster(cores=8, memory="32GB", walltime="04:00:00",
    ...                         queue="gpu", gpus=1)  # doctest: +SKIP
    >>> print(cluster.job_script())  # doctest: +SKIP
    >>> cluster.scale(jobs=4)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from galmorph.exceptions import GalmorphError

if TYPE_CHECKING:
    from dask_jobqueue import SLURMCluster
    from distributed import Client, LocalCluster

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


@contextmanager
def dask_client(
    scheduler: str | None = None, workers: int | None = None, timeout: float = 20
) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, else of a new local cluster of ``workers``
    processes (one thread each, on 127.0.0.1, no dashboard), closed on exit; the thread
    limits a local cluster sets in this process's environment for its workers are then
    taken back.

    Raises:
        GalmorphError: when ``scheduler`` is not an address, or cannot be reached within
            ``timeout`` seconds.
    """
    from distributed import Client

    if scheduler is not None:
        _check_reachable(scheduler, timeout)
        try:  # something listens there: a scheduler, or another program that never answers
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise _unreachable(scheduler, err) from None
        with client:
            yield client
        return
    with (
        _environment_kept(),
        _slow_exits_quiet(),
        _local_cluster(workers or 1) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _local_cluster(workers: int) -> LocalCluster:
    """``workers`` one-thread processes on 127.0.0.1 and no dashboard (the scheduler's other
    HTTP routes on a free loopback port), started with SIGINT ignored, which they inherit:
    Ctrl-C interrupts this process, which closes them, instead of each printing its own
    KeyboardInterrupt traceback (a worker restarted later does not inherit it)."""
    from distributed import LocalCluster

    main = threading.current_thread() is threading.main_thread()
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    finally:
        if main:
            signal.signal(signal.SIGINT, handler)


def _check_reachable(scheduler: str, timeout: float) -> None:
    """Raise :class:`GalmorphError` unless ``scheduler`` is a Dask address whose host takes
    a TCP connection within ``timeout`` seconds (addresses of other transports, such as
    ``ucx://``, are only checked for their form).

    Checked here, before a :class:`distributed.Client` starts its event-loop thread, so
    that a mistyped address fails at once, the same way on a busy machine as on an idle one.
    """
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(scheduler)
        get_backend(scheme)
        host, port = parse_host_port(location) if scheme in _TCP_SCHEMES else (None, None)
    except ValueError as err:  # an unknown protocol, no port, a port that is not a number
        raise GalmorphError(f"{scheduler!r} is not a Dask scheduler's address ({err}): give "
                            "the one the scheduler prints, e.g. tcp://head:8786") from None
    if host is None:
        return
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:  # refused, unknown host, timed out
        raise _unreachable(scheduler, err) from None


def _unreachable(scheduler: str, err: Exception) -> GalmorphError:
    return GalmorphError(f"cannot reach the Dask scheduler at {scheduler}: {err}")


#: Dask transports that run over TCP (plain, TLS, WebSocket): reachable or not by a socket.
_TCP_SCHEMES = frozenset({"tcp", "tls", "ws", "wss"})


class _SlowExitFilter(logging.Filter):
    """Drops the nanny's "Worker process still alive after 4.0 seconds, killing": a worker
    with PyTorch and a model takes seconds to exit, and is killed once its work is saved."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Worker process still alive after")


@contextmanager
def _slow_exits_quiet() -> Iterator[None]:
    """The nanny's log without the warnings of :class:`_SlowExitFilter`, within the block."""
    logger, quiet = logging.getLogger("distributed.nanny"), _SlowExitFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


@contextmanager
def _environment_kept() -> Iterator[None]:
    """This process's environment variables as they were, once the block ends.

    Dask's nanny sets its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1``,
    ``MKL_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``...) in the process that starts a
    local cluster, so that the workers it spawns inherit them, and leaves them there:
    every program this process started afterwards (a script, ``galmorph`` itself)
    would compute on one core.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in os.environ.keys() - saved.keys():
            del os.environ[name]
        os.environ.update({k: v for k, v in saved.items() if os.environ.get(k) != v})
