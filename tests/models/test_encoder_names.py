"""Unknown timm encoder names are a ModelError naming them, with close names."""

from __future__ import annotations

import pytest

from galmorph.exceptions import ModelError
from galmorph.models.model import create_encoder
from galmorph.models.starts import starting_point


def test_unknown_encoder_suggests_close_names() -> None:
    with pytest.raises(ModelError, match=r"unknown encoder 'resnet_18': not a timm model name; "
                                         r"did you mean resnet18\b"):
        create_encoder("resnet_18")


def test_unknown_pretrained_tag_is_named() -> None:
    with pytest.raises(ModelError, match=r"unknown encoder 'resnet18\.nope'.*list_pretrained"):
        create_encoder("resnet18.nope")


def test_scratch_and_imagenet_starts_name_the_unknown_encoder() -> None:
    for init in ("scratch", "imagenet"):
        with pytest.raises(ModelError, match="unknown encoder 'not_a_model'"):
            starting_point(init, encoder="not_a_model")
