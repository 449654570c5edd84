"""Encoder blocks, freezing and layer-wise learning-rate decay.

Encoder blocks are the stages timm groups a model into (ConvNeXt ``stages``,
ResNet ``layer1``-``layer4``, EfficientNet ``blocks``; see :func:`encoder_blocks`),
counted from the head side. :func:`freeze_encoder` trains only the top blocks;
:func:`layerwise_groups` gives the AdamW groups of layer-wise learning-rate decay:
block ``d`` from the top trains at ``learning_rate * lr_decay**d``, the head at
``learning_rate``.

Examples
--------
>>> import timm
>>> from galmorph.models.blocks import encoder_blocks
>>> len(encoder_blocks(timm.create_model("resnet18", num_classes=0)))
4
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from timm.models._manipulate import group_with_matcher
from torch import nn

from galmorph.exceptions import GalmorphError


def _matches(spec: Any, name: str) -> bool:
    """Whether ``name`` matches a timm group-matcher entry (a regex or (regex, suffix) list)."""
    specs = spec if isinstance(spec, list | tuple) else [(spec, None)]
    return any(re.match(pattern, name) for pattern, _ in specs)


def encoder_blocks(encoder: nn.Module) -> list[list[str]]:
    """Names of the encoder's parameters and buffers per block, from the head side down.

    Blocks are timm's coarse groups (``encoder.group_matcher(coarse=True)``): one
    per stage. The stem belongs to the lowest block; layers after the last stage
    (e.g. ConvNeXt's ``head.norm``, EfficientNet's ``conv_head``) to the top one.
    An encoder timm cannot group is one block.
    """
    names = [n for n, _ in chain(encoder.named_parameters(), encoder.named_buffers())]
    try:
        matcher = encoder.group_matcher(coarse=True)  # type: ignore[operator]
    except (AttributeError, NotImplementedError):
        return [names]
    if not isinstance(matcher, Mapping) or "blocks" not in matcher:
        return [names]
    staged = [n for n in names if _matches(matcher["blocks"], n)]
    if not staged:
        return [names]
    in_stage = set(staged)
    stem = [n for n in names if n not in in_stage and _matches(matcher.get("stem", []), n)]
    rest = [n for n in names if n not in in_stage and n not in set(stem)]
    grouped = group_with_matcher(((n, None) for n in staged), {"blocks": matcher["blocks"]})
    blocks = list(grouped.values())
    blocks[0] = stem + blocks[0]
    blocks[-1] = blocks[-1] + rest
    return blocks[::-1]


def check_n_blocks(n_blocks: int, encoder: nn.Module) -> int:
    """The number of top blocks ``n_blocks`` asks to train (-1: all of them).

    Raises:
        GalmorphError: when ``n_blocks`` is below -1 or above the encoder's blocks,
            naming how many it has (and ``--n-blocks``, the option that sets it).
    """
    blocks = len(encoder_blocks(encoder))
    if not -1 <= n_blocks <= blocks:
        raise GalmorphError(f"cannot train {n_blocks} blocks of layers: this model's encoder "
                            f"has {blocks}; give --n-blocks from 0 to {blocks}, or -1 for all")
    return blocks if n_blocks == -1 else n_blocks


def freeze_encoder(encoder: nn.Module, n_blocks: int) -> list[str]:
    """Train only the top ``n_blocks`` blocks (-1: all); freeze the parameters of the rest.

    Returns:
        Names of the largest submodules (``""``: the whole encoder) whose every
        parameter and buffer is frozen; keep them in eval mode while training.

    Raises:
        ValueError: when ``n_blocks`` is below -1 or above the number of blocks.
    """
    blocks = encoder_blocks(encoder)
    if n_blocks == -1:
        n_blocks = len(blocks)
    if not 0 <= n_blocks <= len(blocks):
        raise ValueError(
            f"n_blocks must be -1 (all) or 0 to {len(blocks)} (the encoder's blocks), "
            f"got {n_blocks}"
        )
    frozen = set(chain.from_iterable(blocks[n_blocks:]))
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_(name not in frozen)
    modules: list[str] = []
    for name, module in encoder.named_modules():
        if any(name.startswith(f"{m}.") or m == "" for m in modules):
            continue
        prefix = f"{name}." if name else ""
        tensors = [prefix + n for n, _ in chain(module.named_parameters(), module.named_buffers())]
        if tensors and frozen.issuperset(tensors):
            modules.append(name)
    return modules


def layerwise_groups(
    head: Iterable[nn.Parameter],
    encoder: nn.Module,
    n_blocks: int,
    learning_rate: float,
    lr_decay: float,
    weight_decay: float,
) -> list[dict[str, Any]]:
    """AdamW groups with layer-wise learning-rate decay.

    The head trains at ``learning_rate``, encoder block ``d`` from the top (of the
    ``n_blocks`` trained; -1: all) at ``learning_rate * lr_decay**d``. Biases and
    norm weights (1-D tensors) get no weight decay. Frozen parameters
    (``requires_grad=False``) are left out.
    """
    blocks = encoder_blocks(encoder)
    n_blocks = len(blocks) if n_blocks == -1 else n_blocks
    parameters = dict(encoder.named_parameters())
    layers: list[tuple[float, list[nn.Parameter]]] = [(learning_rate, list(head))]
    for depth, block in enumerate(blocks[:n_blocks], start=1):
        layers.append((
            learning_rate * lr_decay**depth, [parameters[n] for n in block if n in parameters]
        ))
    groups = []
    for lr, params in layers:
        for decay in (True, False):
            chosen = [p for p in params if p.requires_grad and (p.ndim > 1) == decay]
            if chosen:
                groups.append({
                    "params": chosen, "lr": lr, "weight_decay": weight_decay if decay else 0.0,
                })
    return groups
