"""Device choice (galmorph.models.device)."""

from __future__ import annotations

import pytest
import torch

from galmorph.exceptions import GalmorphError
from galmorph.models.device import resolve_device


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(GalmorphError, match="unknown device"):
        resolve_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(GalmorphError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_load_model_resolves_its_device(untrained_model) -> None:
    from galmorph.models.checkpoint import load_model

    assert load_model(untrained_model, "auto").model.head.linear.weight.device.type in (
        "cpu", "cuda", "mps")
    with pytest.raises(GalmorphError, match="unknown device 'gpu'"):
        load_model(untrained_model, "gpu")
