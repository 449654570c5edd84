"""The Lightning Trainer of galmorph's training runs: checkpoints, logs and stopping.

:func:`build_trainer` makes the Trainer that :func:`galmorph.training.train.train`
and :func:`galmorph.training.finetune.finetune` run: it writes ``best.ckpt`` and
``last.ckpt`` atomically (:class:`AtomicCheckpointIO`) and logs to CSV (and to
TensorBoard when installed) in the run's folder. Around it: :func:`quiet_lightning`
hides Lightning's messages that a user cannot act on, :class:`ValidationHistory`
keeps every validation run's metrics, :func:`hardware_record` says what a run
trained on, :func:`interrupt_raised` turns Ctrl-C into ``KeyboardInterrupt``, and
:func:`clear_leftovers` and :func:`warn_if_replacing` prepare a run's folder.
"""

from __future__ import annotations

import errno
import logging
import re
import signal
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    Timer,
)
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.plugins import TorchCheckpointIO

from galmorph.data.galaxy_dataset import usable_cores
from galmorph.exceptions import GalmorphWarning
from galmorph.files import atomic_target
from galmorph.inference.resumable import remove_leftovers
from galmorph.models.device import hardware_refusals
from galmorph.numbers import real_number, whole_number

BEST_NAME = "best"
LAST_NAME = "last"
MODEL_FILE = "model.pt"
#: The files a training run leaves in its output folder.
RUN_FILES = (f"{BEST_NAME}.ckpt", f"{LAST_NAME}.ckpt", MODEL_FILE)

# Lightning messages with nothing in them for a galmorph user to act on: the run's own
# logs make its folder non-empty before the first checkpoint, small catalogs have fewer
# batches than the logging interval, frozen blocks stay in eval mode on purpose,
# Lightning calls a torch pytree API that torch has deprecated, and it advertises a
# cloud logger. Which hardware it found, how it counted the steps and that the last epoch
# ended are in galmorph's own report (and the model's metadata).
LIGHTNING_NOISE = (
    r"[GTH]PU available: ",
    r"Loading `train_dataloader` to estimate number of stepping batches",
    r"`Trainer.fit` stopped: `max_epochs=\d+` reached",
    r"Checkpoint directory .* exists and is not empty",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r".*module\(s\) in eval mode",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"💡 Tip: ",
)


class _NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(re.match(pattern, message) for pattern in LIGHTNING_NOISE)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide Lightning's warnings and log lines of :data:`LIGHTNING_NOISE` inside the block."""
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    noise = _NoiseFilter()
    rank_zero_log.addFilter(noise)
    try:
        with warnings.catch_warnings():
            for pattern in LIGHTNING_NOISE:
                warnings.filterwarnings("ignore", pattern)
            yield
    finally:
        rank_zero_log.removeFilter(noise)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file beside it, then renames it into place.

    A process killed while saving (SIGKILL, a node failure, a full disk) leaves
    the previous ``last.ckpt``/``best.ckpt`` whole, and at worst a hidden
    ``.NAME.*.tmp`` file that the next run removes. (Lightning's own writer
    stages the file in the system temporary folder, from where moving it to
    another file system is a copy that a kill can leave half done.)
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        with atomic_target(path) as tmp:
            torch.save(checkpoint, tmp)


class ValidationHistory(L.Callback):
    """The ``val_*`` metrics of every validation run, in order, in :attr:`history`.

    Sanity checks are left out; ``trainer.validate`` runs are kept, like epochs.
    """

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.history.append({name: float(value) for name, value
                                 in trainer.callback_metrics.items() if name.startswith("val_")})

    def best(self, monitor: str = "val_loss") -> dict[str, float] | None:
        """The metrics of the run with the lowest ``monitor`` (None before any)."""
        scored = [metrics for metrics in self.history if monitor in metrics]
        return min(scored, key=lambda metrics: metrics[monitor]) if scored else None


def hardware_record(trainer: L.Trainer) -> dict[str, Any]:
    """What a run trained on: ``device`` (a GPU's name, or ``cpu (N cores)``), how many
    ``devices`` in all nodes, and the numerical ``precision``."""
    device = trainer.strategy.root_device
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu ({usable_cores()} cores)" if device.type == "cpu" else device.type)
    return {"device": name, "devices": trainer.num_devices * trainer.num_nodes,
            "precision": str(trainer.precision)}


_PRECISION_WORDS = {
    "32-true": "32-bit", "64-true": "64-bit", "16-true": "16-bit", "bf16-true": "bf16",
    "16-mixed": "16-bit mixed precision", "bf16-mixed": "bf16 mixed precision",
}


def hardware_summary(hardware: dict[str, Any]) -> str:
    """:func:`hardware_record` in a few words.

    Example:
        >>> hardware_summary({"device": "NVIDIA H100", "devices": 4, "precision": "bf16-mixed"})
        '4 × NVIDIA H100, bf16 mixed precision'
    """
    count = f"{hardware['devices']} × " if hardware["devices"] > 1 else ""
    precision = _PRECISION_WORDS.get(hardware["precision"], hardware["precision"])
    return f"{count}{hardware['device']}, {precision}"


def check_run_options(
    *, epochs: int, batch_size: int, num_workers: int | None = None,
    max_minutes: float | None = None,
) -> None:
    """Check a training run's counts before any work: ``epochs`` and ``batch_size`` whole
    numbers from 1, ``num_workers`` from 0 (or None), ``max_minutes`` above 0 (or None).

    Raises:
        ValueError: naming the first argument that is not.
    """
    whole_number(epochs, "epochs", 1)
    whole_number(batch_size, "batch_size", 1)
    if num_workers is not None:
        whole_number(num_workers, "num_workers", 0)
    if max_minutes is not None and real_number(max_minutes, "max_minutes") <= 0:
        raise ValueError(f"max_minutes must be a number of minutes above 0, got {max_minutes!r}")


def check_output_dir(output_dir: str | Path) -> None:
    """Before any work, refuse an ``output_dir`` that is a file or lies under one.

    Raises:
        NotADirectoryError: naming ``output_dir``.
    """
    path = Path(output_dir).absolute()
    if any(p.exists() and not p.is_dir() for p in (path, *path.parents)):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(output_dir))


def _loggers(output_dir: Path) -> list[Logger]:
    """CSV always; TensorBoard and Weights & Biases too when they are installed."""
    loggers: list[Logger] = [CSVLogger(output_dir, name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(output_dir, name="tensorboard"))
    except ImportError:
        pass
    return loggers


class RunTimer(Timer):
    """Lightning's :class:`~lightning.pytorch.callbacks.Timer`, counting this run's time
    only: a run resumed from a checkpoint gets its whole limit again (Lightning's would
    carry on from the time the checkpoint records, and a batch job resumed with the same
    limit would stop before its first step)."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep this run's clock (the checkpoint's elapsed time is not carried on)."""


def build_trainer(
    output_dir: Path,
    *,
    epochs: int,
    monitor: str | None = "val_loss",
    patience: int | None = None,
    accelerator: str = "auto",
    devices: int | str = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str | None = None,
    gradient_clip: float | None = 1.0,
    progress: bool = True,
    log_every_n_steps: int = 10,
    callbacks: Sequence[L.Callback] = (),
    max_minutes: float | None = None,
) -> tuple[L.Trainer, ModelCheckpoint]:
    """A Lightning Trainer writing ``best.ckpt``, ``last.ckpt`` and logs in ``output_dir``.

    ``best.ckpt`` has the lowest ``monitor`` (a logged validation metric) so far.
    With ``monitor=None`` there is no validation at all and ``best.ckpt`` is the
    latest epoch. ``patience`` stops training after that many epochs without a
    better ``monitor`` (None: run all epochs); ``max_minutes`` stops training
    after that much time (e.g. a batch job's wall-time limit), keeping the best
    checkpoint so far. ``callbacks`` are added to galmorph's. The other
    arguments go to ``lightning.Trainer``. ``output_dir`` is made once the Trainer is.

    Raises:
        GalmorphError: when Lightning refuses the hardware settings (e.g. a GPU
            accelerator on a machine without one), naming them.
    """
    if patience is not None and monitor is None:
        raise ValueError("early stopping (patience) needs a validation metric to monitor")
    # last.ckpt after every epoch, improved or not: save_last=True writes it only when
    # best.ckpt is written, and a run resumed from it would repeat the epochs after the
    # best; without validation, best.ckpt is written every epoch, and last.ckpt with it
    checkpoint = ModelCheckpoint(
        dirpath=output_dir, filename=BEST_NAME, monitor=monitor, mode="min",
        save_last=monitor is None, enable_version_counter=False,
    )
    checkpoint.CHECKPOINT_NAME_LAST = LAST_NAME
    every: list[L.Callback] = [checkpoint, LearningRateMonitor("epoch"), *callbacks]
    if monitor is not None:
        every.append(ModelCheckpoint(dirpath=output_dir, filename=LAST_NAME, monitor=None,
                                     save_top_k=1, enable_version_counter=False))
    if max_minutes is not None:
        every.append(RunTimer(timedelta(minutes=max_minutes)))
    if patience is not None:
        every.append(EarlyStopping(monitor, patience=patience, mode="min"))
    no_validation: dict[str, Any] = (
        {"limit_val_batches": 0, "num_sanity_val_steps": 0} if monitor is None else {}
    )
    hardware = {"--accelerator": accelerator, "--devices": devices, "--strategy": strategy,
                "--num-nodes": num_nodes, "--precision": precision}
    with quiet_lightning(), hardware_refusals("train", hardware, HARDWARE_DEFAULTS,
                                              gpu=str(accelerator).lower() in ("gpu", "cuda")):
        trainer = L.Trainer(
            max_epochs=epochs,
            plugins=[AtomicCheckpointIO()],
            accelerator=accelerator,
            devices=devices,
            strategy=strategy,
            num_nodes=num_nodes,
            precision=precision,
            gradient_clip_val=gradient_clip,
            callbacks=every,
            logger=_loggers(output_dir),
            default_root_dir=output_dir,
            enable_progress_bar=progress,
            enable_model_summary=progress,
            log_every_n_steps=log_every_n_steps,
            **no_validation,
        )
    output_dir.mkdir(parents=True, exist_ok=True)  # once the Trainer is known to work
    return trainer, checkpoint


#: The Trainer's hardware settings when not given (not named in errors).
HARDWARE_DEFAULTS = {"--accelerator": "auto", "--devices": "auto", "--strategy": "auto",
                     "--num-nodes": 1, "--precision": None}


@contextmanager
def interrupt_raised(trainer: L.Trainer) -> Iterator[None]:
    """Ctrl-C in ``trainer`` runs inside as KeyboardInterrupt, not Lightning's ``sys.exit(1)``;
    Lightning's handler, which ignores any later Ctrl-C, is undone."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        yield
    except SystemExit:
        if not trainer.interrupted:
            raise
        raise KeyboardInterrupt from None
    finally:
        if handler is not None and signal.getsignal(signal.SIGINT) is not handler:
            signal.signal(signal.SIGINT, handler)


def clear_leftovers(output_dir: Path) -> None:
    """Remove the partial temporary files a killed run left in ``output_dir``."""
    for name in RUN_FILES:
        remove_leftovers(output_dir / name)


def warn_if_replacing(output_dir: Path, how_to_continue: str = "") -> None:
    """Warn that a new run in ``output_dir`` replaces an earlier run's model files
    (``how_to_continue``, if given, ends in ``, or ``)."""
    earlier = [name for name in RUN_FILES if (output_dir / name).exists()]
    if earlier:
        warnings.warn(
            f"{output_dir} holds an earlier run ({', '.join(earlier)}): this run replaces "
            f"it; {how_to_continue}choose another folder to keep it", GalmorphWarning,
            stacklevel=3,
        )
