"""External encoders in timm's format: ``config.json`` with ``model.safetensors`` or
``pytorch_model.bin`` (as written by ``timm.models.push_to_hf_hub``/``save_for_hf``).

Zoobot publishes its encoders this way (e.g. ``hf_hub:mwalmsley/zoobot-encoder-convnext_nano``).
Such an encoder has no task head: it embeds (``embed``, ``similar``, ``serve``) and
starts training (``train --init``, ``finetune --model``), but does not predict.
Its image conventions (size, normalisation, channels) come from the
``pretrained_cfg`` of its ``config.json``; ``image`` overrides fill what it lacks.

Examples
--------
>>> from galmorph.models.external import is_timm_folder
>>> is_timm_folder(".")
False
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from galmorph import __version__
from galmorph.data.image_config import ImageConfig
from galmorph.exceptions import ModelError
from galmorph.models.model import GalaxyModel

#: The task of a model that is an encoder only.
ENCODER_TASK = "encoder"
CONFIG_FILE = "config.json"
#: Weight files, in the order they are preferred.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_timm_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a timm ``config.json`` and its weights."""
    folder = Path(path)
    return (folder / CONFIG_FILE).is_file() and any((folder / w).is_file() for w in WEIGHT_FILES)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{path} is not a readable timm config.json: {err}") from None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise ModelError(f"{path} names no timm 'architecture'")
    return config


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, by name.

    Raises:
        ModelError: in one line, for a file that is not a readable state dict.
    """
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: unsafe
        raise ModelError(f"{path} is not a weights file (tensors by name) that loads safely: "
                         "corrupt, or another kind of file") from None
    except Exception as err:  # safetensors and torch raise several types for a bad file
        reason = (str(err).strip() or type(err).__name__).splitlines()[0].split(". ")[0]
        raise ModelError(f"{path} is not a readable weights file (corrupt, cut short, or not "
                         f"saved by timm): {reason}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(f"{path} holds no state dict (tensors by parameter name): save the "
                         "encoder with timm's save_for_hf")
    return state


def image_settings(
    config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
    source: str | Path = CONFIG_FILE,
) -> ImageConfig:
    """galmorph image settings from a timm config's ``pretrained_cfg`` and ``overrides``.

    ``overrides`` (``size``, ``mean``, ``std``, ``channels``...) win; otherwise
    the side comes from ``input_size``, normalisation from ``mean``/``std``,
    and what neither gives from :meth:`ImageConfig.for_sdss_gz2`. The config's mean and
    std are averaged to the number of channels when it differs; given ones are not.

    Raises:
        ModelError: in one line naming ``source`` (the config file), for values that
            make no usable settings.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return _image_config(config, given)
    except (AttributeError, TypeError, ValueError, IndexError) as err:  # values of either
        options = " and the settings given (--input-size, --mean, --std)" if given else ""
        raise ModelError(f"unusable image settings from {source} (pretrained_cfg, "
                         f"model_args){options}: {err}") from None


def _image_config(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> ImageConfig:
    """:func:`image_settings`, raising ValueError or TypeError for unusable values."""
    cfg = config.get("pretrained_cfg") or {}
    found: dict[str, Any] = {}
    if cfg.get("input_size"):
        found["channels"], found["size"] = int(cfg["input_size"][0]), int(cfg["input_size"][-1])
    for key in ("mean", "std"):
        if cfg.get(key):
            found[key] = [float(v) for v in cfg[key]]
    if (config.get("model_args") or {}).get("in_chans"):
        found["channels"] = int(config["model_args"]["in_chans"])
    channels = int(overrides.get("channels", found.get("channels", 3)))
    for key in ("mean", "std"):  # the config's statistics for another number of channels
        if key in found and len(found[key]) != channels:
            found[key] = [sum(found[key]) / len(found[key])] * channels
    found.update(overrides)  # given values are taken as they are, or refused
    base = ImageConfig.for_sdss_gz2(channels=channels).to_dict()
    # the encoder was not trained on SDSS: keep no survey conventions
    base.update(survey="", bands="", pixel_scale=None, field_of_view=None, stretch="")
    return ImageConfig.from_dict({**base, **found, "channels": channels})


def load_timm_encoder(
    folder: str | Path, source: str, image: Mapping[str, Any] | None = None
) -> tuple[GalaxyModel, dict[str, Any], Path]:
    """An external timm encoder as a head-less :class:`GalaxyModel`, its metadata and
    the weights file it was read from.

    The weights are read with ``weights_only=True`` (or from safetensors); a
    classifier in them is dropped.

    Raises:
        ModelError: for a folder that is not a timm encoder, or weights that do not fit.
    """
    folder = Path(folder)
    config = _read_config(folder / CONFIG_FILE)
    weights = next((folder / w for w in WEIGHT_FILES if (folder / w).is_file()), None)
    if weights is None:
        raise ModelError(f"{folder} has {CONFIG_FILE} but no {' or '.join(WEIGHT_FILES)}")
    settings = image_settings(config, image, folder / CONFIG_FILE)
    architecture = config["architecture"]
    given = config.get("model_args") or {}
    model_args = {k: v for k, v in given.items() if k not in ("in_chans", "num_classes")}
    try:
        encoder = timm.create_model(
            architecture, pretrained=False, num_classes=0, in_chans=settings.channels,
            **model_args,
        )
    except (RuntimeError, TypeError) as err:  # unknown architecture or arguments
        raise ModelError(f"timm cannot build {architecture!r} of {folder}: {err}") from None
    state = _read_weights(weights)
    wanted = encoder.state_dict()
    classifier = str((config.get("pretrained_cfg") or {}).get("classifier") or "")
    state = {k: v for k, v in state.items() if k in wanted or not k.startswith(classifier)}
    missing = sorted(set(wanted) - set(state))
    unexpected = sorted(set(state) - set(wanted))
    if missing or unexpected:
        raise ModelError(
            f"the weights in {weights} do not fit timm's {architecture}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    different = [f"{k} is {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
                 for k, v in wanted.items() if state[k].shape != v.shape]
    if different:
        raise ModelError(f"the weights in {weights} do not fit timm's {architecture} as "
                         f"{CONFIG_FILE} builds it (its model_args?): {'; '.join(different[:3])}")
    encoder.load_state_dict(state)
    metadata = {
        "task": ENCODER_TASK,
        "name": source.removeprefix("hf_hub:") if source.startswith("hf_hub:") else folder.name,
        "encoder": architecture,
        "channels": settings.channels,
        "dropout": 0.0,
        "image": settings.to_dict(),
        "external": {"format": "timm", "source": source, "weights": weights.name},
        "galmorph_version": __version__,
    }
    return GalaxyModel(encoder, nn.Identity()), metadata, weights
