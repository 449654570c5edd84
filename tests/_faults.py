"""Fault tests' machinery: real galmorph processes killed with SIGKILL at seeded points.

Every scenario of ``test_faults_training.py`` and ``test_faults_inference.py`` runs a
galmorph command (``galmorph.cli.main``, what the ``galmorph`` script runs) in a
separate process, with a *kill point*: a hook that makes the process send itself
SIGKILL when it gets there (after N images, inside a training or validation step,
half way through writing a checkpoint or a part file, just before the output is
renamed into place), or a delay after which the test kills it. The points are drawn
from a seeded RNG (:data:`SEED`), so a failure reproduces. The same command is then
run again with ``--resume`` and compared with an uninterrupted run.

Processes are forked from a multiprocessing *forkserver* that has imported
galmorph, torch and Lightning once, so each costs milliseconds instead of the
seconds of a fresh interpreter (``tests/training/test_train.py`` has a test that kills a
``python -m galmorph`` process). Each process logs to a file in the test's
folder, shown when an assertion fails.
"""

from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch

SEED = 20261126
#: Exit code multiprocessing reports when the forkserver could not give a child's status.
FORKSERVER_LOST = 255
TESTS = Path(__file__).resolve().parent

# ----------------------------------------------------------- child processes
_PRELOAD = [
    "pytest", "torch", "lightning", "timm", "pyarrow.parquet", "galmorph.cli", "galmorph.cli.train",
    "galmorph.cli.predict", "galmorph.cli.embed", "galmorph.training.train",
    "galmorph.inference.predict", "galmorph.inference.embed",
]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(_PRELOAD)

#: Run in the child, which imports this module by name from the tests folder.
_BOOT = "import sys; sys.path.insert(0, TESTS); import _faults; _faults.child(ARGS)"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # not reached


def _install_hook(hook: str) -> dict[str, int]:
    """Patch the point where this process is to kill itself; returns live counters.

    ``items:N``        after loading the N-th image (GalaxyDataset.__getitem__)
    ``train_step:N``   at the N-th training step; ``val_step:N``: validation step
    ``save:N:F``       the N-th checkpoint torch.save writes fraction F of its bytes;
                       ``save:model:F``: the save of model.pt does
    ``part:N:F``       the N-th parquet part/table file written by write_table keeps
                       fraction F of its bytes
    ``stream:N``       after streaming N chunks into an output file
    ``replace:NAME``   just before a finished temporary file is renamed to NAME
    ``count``          nothing; only count loaded images
    """
    from galmorph.data import galaxy_dataset
    from galmorph.inference import outputs
    from galmorph.training import vote_module

    counts = {"items": 0}
    kind, *args = hook.split(":")
    n = int(args[0]) if args and args[0].isdigit() else 0

    get_item = galaxy_dataset.GalaxyDataset.__getitem__

    def counted_item(self: galaxy_dataset.GalaxyDataset, index: int) -> dict:
        counts["items"] += 1
        if kind == "items" and counts["items"] == n:
            _die()
        return get_item(self, index)

    galaxy_dataset.GalaxyDataset.__getitem__ = counted_item  # type: ignore[method-assign]

    def nth_call(owner: object, name: str, when: Callable[..., bool] = lambda *a: True) -> None:
        real = getattr(owner, name)
        seen = itertools.count(1)

        def wrapper(*a: object, **kw: object) -> object:
            if when(*a) and next(seen) == n:
                _die()
            return real(*a, **kw)

        setattr(owner, name, wrapper)

    if kind == "train_step":
        nth_call(vote_module.VoteModule, "training_step")
    elif kind == "val_step":
        nth_call(vote_module.VoteModule, "validation_step")
    elif kind == "stream":
        real_stream = outputs._stream_parquet

        def stream(chunks: Iterable[pd.DataFrame], *a: object) -> int:
            def dying() -> Iterator[pd.DataFrame]:
                for number, chunk in enumerate(chunks):
                    if number == n:  # n chunks are in the temporary file
                        _die()
                    yield chunk

            return real_stream(dying(), *a)

        outputs._stream_parquet = stream
    elif kind == "replace":
        real_replace = os.replace

        def replace(src: str, dst: str, *a: object, **kw: object) -> None:
            if os.path.basename(dst) == args[0]:
                _die()
            real_replace(src, dst, *a, **kw)

        os.replace = replace  # type: ignore[assignment]
    elif kind == "save":
        real_save = torch.save
        saves = itertools.count(1)

        def partial_save(obj: object, f: object, *a: object, **kw: object) -> None:
            # checkpoints are written to open files, model.pt (save_model) to a path
            is_model = isinstance(f, str | os.PathLike) and "model.pt" in str(f)
            if isinstance(f, io.BytesIO) or is_model != (n == 0) or (n and next(saves) != n):
                return real_save(obj, f, *a, **kw)
            buffer = io.BytesIO()
            real_save(obj, buffer, *a, **kw)
            data_ = buffer.getvalue()[: int(len(buffer.getvalue()) * float(args[1]))]
            if isinstance(f, str | os.PathLike):
                with open(f, "wb") as handle:
                    handle.write(data_)
            else:
                f.write(data_)  # type: ignore[attr-defined]
                f.flush()  # type: ignore[attr-defined]
            _die()

        torch.save = partial_save
    elif kind == "part":
        real_parquet = outputs._WRITERS["parquet"]
        parts = itertools.count(1)

        def partial_parquet(frame: pd.DataFrame, path: Path, meta: dict) -> None:
            real_parquet(frame, path, meta)
            if next(parts) == n:
                size = path.stat().st_size
                os.truncate(path, int(size * float(args[1])))
                _die()

        outputs._WRITERS["parquet"] = partial_parquet
    elif kind not in ("count", "items"):
        raise ValueError(f"unknown hook {hook}")
    return counts


def child(args: dict) -> None:
    """Entry point of a child process: log to a file, install the hook, run galmorph."""
    log = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    torch.set_num_threads(1)  # two children may share the two cores of a CI machine
    counts = _install_hook(args["hook"] or "count")
    from galmorph.cli import main

    status = main(args["argv"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args["log"] + ".items").write_text(json.dumps(
        {"items": counts["items"], "cpu": usage.ru_utime + usage.ru_stime, "status": status}))
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(status)


@dataclass
class Run:
    exitcode: int
    log: Path
    items: int | None  # images loaded, when the run ended normally
    seconds: float
    cpu: float | None  # CPU seconds, when the run ended normally

    @property
    def killed(self) -> bool:
        return self.exitcode == -signal.SIGKILL

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


_names = itertools.count()


def run_galmorph(
    argv: list[str | Path],
    folder: Path,
    hook: str | None = None,
    kill_after: float | None = None,
    timeout: float = 300,
    retried: bool = False,
) -> Run:
    """Run ``galmorph ARGV`` in a child process; SIGKILL it after ``kill_after`` s if given."""
    log = folder / f"child-{next(_names)}.log"
    payload = {"argv": [str(a) for a in argv], "hook": hook, "log": str(log)}
    process = _CONTEXT.Process(
        target=exec, args=(_BOOT, {"TESTS": str(TESTS), "ARGS": payload})
    )
    start = time.monotonic()
    process.start()
    if kill_after is not None:
        process.join(kill_after)
        if process.is_alive():
            process.kill()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail(f"galmorph {argv[0]} did not finish in {timeout} s; log:\n{log.read_text()}")
    counted = Path(str(log) + ".items")
    record = json.loads(counted.read_text()) if counted.exists() else {}
    assert process.exitcode is not None
    exitcode = process.exitcode
    if exitcode == FORKSERVER_LOST and "status" in record:
        # the forkserver lost the status of a child that ran to its end (seen on a busy
        # 2-core CI machine): the child wrote it down just before exiting
        exitcode = record["status"]
    elif exitcode == FORKSERVER_LOST and not log.read_text() and not retried:
        # the forkserver lost the child's status (seen intermittently on 2-core
        # machines): nothing of galmorph ran to completion or was checked; run it again
        return run_galmorph(argv, folder, hook, kill_after, timeout, retried=True)
    return Run(exitcode, log, record.get("items"), time.monotonic() - start, record.get("cpu"))


def start_forkserver() -> None:
    """Start the forkserver (and its imports) before any run is timed."""
    process = _CONTEXT.Process(target=exec, args=("pass", {}))
    process.start()
    process.join()

def in_parallel(jobs: list[Callable[[], object]], workers: int = 2) -> list[object]:
    """Run independent scenarios two at a time (each child uses one thread)."""
    with ThreadPoolExecutor(workers) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
