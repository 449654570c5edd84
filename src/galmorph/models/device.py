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
