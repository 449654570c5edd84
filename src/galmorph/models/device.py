"""Where a model runs: a torch device from a name, and Lightning's name for its kind.

Examples
--------
>>> from galmorph.models.device import accelerator_name, resolve_device
>>> resolve_device("cpu")
device(type='cpu')
>>> accelerator_name("cuda:1")
'gpu'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from galmorph.exceptions import GalmorphError


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device; ``"auto"`` picks CUDA, then Apple MPS, then the CPU.

    Raises:
        GalmorphError: for an unknown device or a GPU that is not available.
    """
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise GalmorphError(
            f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise GalmorphError(f"device {device!r} was asked for, but no CUDA GPU is available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise GalmorphError(f"device {device!r} was asked for, but MPS is not available")
    return resolved


def accelerator_name(device: str | torch.device) -> str:
    """Lightning's accelerator name for a galmorph device (cuda:N picks the GPU kind only)."""
    kind = str(device).split(":")[0]
    return {"cuda": "gpu", "cpu": "cpu", "mps": "mps"}.get(kind, "auto")


@contextmanager
def hardware_refusals(doing: str, settings: Mapping[str, Any], defaults: Mapping[str, Any], *,
                      gpu: bool, cpu_option: str = "--accelerator cpu") -> Iterator[None]:
    """Lightning's refusal of hardware settings as one GalmorphError naming those set.

    ``doing``: what was asked (``train``, ``predict``); ``settings`` and their
    ``defaults`` by option, e.g. ``{"--strategy": "dp"}`` (those at their default are not
    named); ``gpu``: whether a GPU was asked for (the error then says how to check that
    PyTorch sees one, or to use ``cpu_option``).

    Raises:
        GalmorphError: for Lightning's misconfiguration, a bad value or a missing package
            (``--accelerator tpu`` without ``torch_xla``).
    """
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except (MisconfigurationException, ValueError, TypeError, ImportError) as err:
        named = (", ".join(f"{option} {value}" for option, value in settings.items()
                           if str(value) != str(defaults[option]))
                 or "the default hardware settings (auto)")
        why = str(err).rstrip(".!")
        if isinstance(err, ImportError):
            why = f"what it needs is not installed ({why})"
        hint = (f"; use {cpu_option}, or check that PyTorch sees the GPU "
                "(torch.cuda.is_available())" if gpu and not torch.cuda.is_available() else "")
        raise GalmorphError(f"cannot {doing} with {named}: {why}{hint}") from None
