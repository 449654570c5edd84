"""Inference shared between processes (GPUs, machines) by a Lightning strategy (DDP).

:class:`DistributedInference` runs Lightning's predict loop over each process's
share of a loader's rows and gathers the outputs, in row order, on the first
process; :func:`galmorph.inference.loop.model_outputs` and
:func:`galmorph.inference.predict.predict_to_file` use it when asked for several
devices or machines.

Examples
--------
>>> from galmorph.inference.distributed import DistributedInference
>>> shared = DistributedInference("cpu", devices=2)  # doctest: +SKIP
>>> shared.is_primary  # doctest: +SKIP
True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, cast

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from galmorph.data.galaxy_dataset import batch_finisher
from galmorph.exceptions import GalmorphError, GalmorphWarning
from galmorph.inference.loop import unreadable_message
from galmorph.models.device import accelerator_name, hardware_refusals
from galmorph.models.model import enable_mc_dropout

#: The options' values when not given (not named in errors).
PREDICTION_DEFAULTS = {"--device": "auto", "--devices": 1, "--num-nodes": 1, "--strategy": "ddp"}


class _InferenceModule(L.LightningModule):
    """A model and its batch function, as Lightning's predict loop wants them."""

    def __init__(
        self,
        model: nn.Module,
        forward: Callable[[torch.Tensor], torch.Tensor],
        mc_dropout: bool,
        finish: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        self.model = model
        self._forward = forward
        self._mc_dropout = mc_dropout
        self._finish = finish
        self.unreadable: list[str] = []

    def on_predict_model_eval(self) -> None:  # Lightning's hook puts the model in eval mode
        if self._mc_dropout:
            enable_mc_dropout(self.model)
        else:
            self.model.eval()

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> tuple[Any, Any]:
        """Row numbers and outputs of a batch; NaN outputs for unreadable images."""
        images = self._finish(batch["image"])
        values = self._forward(images).float().cpu()
        problems = batch.get("unreadable", ())
        if unread := [i for i, problem in enumerate(problems) if problem]:
            values[unread] = float("nan")
            self.unreadable += [problems[i] for i in unread]
        return batch["index"].cpu(), values


class DistributedInference:
    """Inference shared between processes (GPUs, machines) by a Lightning strategy.

    Each process runs Lightning's predict loop over its share of the rows (a
    sampler that does not pad, so no row is done twice); the outputs are then
    gathered on the first process and put back in row order by each item's
    ``index``, which also drops any repeated row. With the default ``ddp``
    strategy Lightning starts the other processes of a machine by running the
    same command again; under ``torchrun`` or SLURM they are started for it.

    Args:
        device: ``cpu``, ``cuda`` (GPUs), ``mps`` or ``auto``: the kind of device.
        devices: processes per machine (one per GPU).
        num_nodes: machines.
        strategy: Lightning strategy that starts and connects the processes.
        progress: show Lightning's progress bar (first process only).
    """

    def __init__(
        self,
        device: str | torch.device = "auto",
        devices: int | str = 1,
        num_nodes: int = 1,
        strategy: str = "ddp",
        progress: bool = True,
    ) -> None:
        if strategy.startswith("ddp_spawn") or "fork" in strategy:
            raise GalmorphError(
                f"strategy {strategy!r} is not supported for prediction: use ddp (Lightning "
                "starts one process per device by running the command again)"
            )
        settings = {"--device": device, "--devices": devices, "--num-nodes": num_nodes,
                    "--strategy": strategy}
        with hardware_refusals("predict", settings, PREDICTION_DEFAULTS,
                               gpu=accelerator_name(device) == "gpu", cpu_option="--device cpu"):
            self.trainer = L.Trainer(
                accelerator=accelerator_name(device),
                devices=devices,
                num_nodes=num_nodes,
                strategy=strategy,
                logger=False,
                enable_checkpointing=False,
                enable_model_summary=False,
                enable_progress_bar=progress,
            )

    @property
    def is_primary(self) -> bool:
        """True in the process that gets the outputs (global rank 0)."""
        return bool(self.trainer.is_global_zero)

    def outputs(
        self,
        loader: DataLoader,
        model: nn.Module,
        forward: Callable[[torch.Tensor], torch.Tensor],
        *,
        mc_dropout: bool = False,
    ) -> np.ndarray | None:
        """``forward`` over every item of ``loader``: ``float32 (N, ...)`` on the first process.

        Rows of images that cannot be read (a loader with ``skip_unreadable``) are NaN;
        each process warns of its own.

        Raises:
            GalmorphError: when some rows came back from no process.
        """
        import torch.distributed as dist

        module = _InferenceModule(model, forward, mc_dropout, batch_finisher(loader))
        batches = self.trainer.predict(module, dataloaders=loader, return_predictions=True)
        if module.unreadable:
            warnings.warn(unreadable_message(module.unreadable, len(loader.dataset)),  # type: ignore[arg-type]
                          GalmorphWarning, stacklevel=2)
        batches = cast(list[tuple[torch.Tensor, torch.Tensor]], batches or [])
        local = (
            torch.cat([i for i, _ in batches]).numpy() if batches else np.zeros(0, np.int64),
            torch.cat([v for _, v in batches]).numpy() if batches else None,
        )
        if dist.is_available() and dist.is_initialized():
            gathered: list[Any] | None = [None] * dist.get_world_size() if self.is_primary else None
            dist.gather_object(local, gathered, dst=0)
        else:
            gathered = [local]
        if gathered is None:
            return None
        n_rows = len(loader.dataset)  # type: ignore[arg-type]
        shapes = [v.shape[1:] for _, v in gathered if v is not None]
        if not shapes:
            raise GalmorphError("there are no galaxies to run the model on")
        out = np.empty((n_rows, *shapes[0]), dtype=np.float32)
        seen = np.zeros(n_rows, dtype=bool)
        for indices, values in gathered:
            if values is not None:
                out[indices] = values  # a row done twice lands on itself
                seen[indices] = True
        if not seen.all():
            raise GalmorphError(
                f"{int((~seen).sum())} of {n_rows} rows came back from no process"
            )
        return out
