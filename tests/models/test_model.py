"""Tests of galmorph.models.model's heads."""

from __future__ import annotations

import torch

from galmorph.models.model import CONCENTRATION_RANGE, MIN_CONCENTRATION, ConcentrationHead


def test_concentrations_are_float32_within_bounds_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    head = ConcentrationHead(16, 5, dropout=0.0).eval()
    features = 3 * torch.randn(32, 16)
    exact = head(features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = head(features)
    assert mixed.dtype == torch.float32
    assert ((mixed > MIN_CONCENTRATION) & (mixed < MIN_CONCENTRATION + CONCENTRATION_RANGE)).all()
    assert torch.allclose(mixed, exact, rtol=1e-6, atol=1e-5)
