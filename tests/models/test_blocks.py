"""Encoder blocks (galmorph.models.blocks): grouping from the top, and freezing."""

from __future__ import annotations

import pytest
from torch import nn

from galmorph.exceptions import GalmorphError
from galmorph.models.blocks import check_n_blocks, encoder_blocks, freeze_encoder
from galmorph.models.model import create_encoder


@pytest.mark.parametrize(
    ("name", "n_blocks", "top", "bottom"),
    [
        ("convnext_atto", 4, ["stages.3.", "head.norm."], ["stages.0.", "stem."]),
        ("test_resnet", 4, ["layer4."], ["layer1.", "conv1.", "bn1."]),
        ("test_efficientnet", 5, ["blocks.4.", "conv_head.", "bn2."], ["blocks.0.", "conv_stem."]),
        ("test_vit", 6, ["blocks.5.", "norm."], ["blocks.0.", "patch_embed.", "pos_embed"]),
    ],
)
def test_encoder_blocks_cover_every_tensor_once_from_the_top(
    name: str, n_blocks: int, top: list[str], bottom: list[str]
) -> None:
    encoder = create_encoder(name)
    blocks = encoder_blocks(encoder)
    assert len(blocks) == n_blocks
    every = [n for n, _ in [*encoder.named_parameters(), *encoder.named_buffers()]]
    flat = [n for block in blocks for n in block]
    assert sorted(flat) == sorted(every)
    for prefix in top:
        assert any(n.startswith(prefix) for n in blocks[0]), prefix
    for prefix in bottom:
        assert any(n.startswith(prefix) for n in blocks[-1]), prefix
    stage = {"convnext_atto": "stages.2.", "test_resnet": "layer3."}.get(name)
    if stage:
        assert all(n.startswith(stage) for n in blocks[1])


def test_an_encoder_timm_cannot_group_is_one_block() -> None:
    encoder = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert encoder_blocks(encoder) == [
        ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
         "1.num_batches_tracked"]
    ]


def test_freeze_encoder_counts_blocks_from_the_top() -> None:
    encoder = create_encoder("test_resnet")
    assert freeze_encoder(encoder, 1) == ["conv1", "bn1", "layer1", "layer2", "layer3"]
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("layer4.") for n in trainable)
    assert freeze_encoder(encoder, 0) == [""]
    assert not any(p.requires_grad for p in encoder.parameters())
    assert freeze_encoder(encoder, -1) == []
    assert all(p.requires_grad for p in encoder.parameters())
    with pytest.raises(ValueError, match="0 to 4"):
        freeze_encoder(encoder, 5)


def test_check_n_blocks_names_the_option_and_the_encoders_blocks() -> None:
    encoder = create_encoder("test_resnet")
    assert [check_n_blocks(n, encoder) for n in (-1, 0, 2, 4)] == [4, 0, 2, 4]
    for wrong in (-2, 5):
        with pytest.raises(GalmorphError, match=rf"cannot train {wrong} blocks of layers: this "
                           r"model's encoder has 4; give --n-blocks from 0 to 4, or -1 for all"):
            check_n_blocks(wrong, encoder)
