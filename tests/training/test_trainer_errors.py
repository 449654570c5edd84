"""Hardware settings Lightning refuses are a GalmorphError naming them; no folder is left."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from galmorph.exceptions import GalmorphError
from galmorph.training.trainer import build_trainer


@pytest.mark.parametrize(("settings", "named"), [
    ({"devices": 0}, "--devices 0"),
    ({"devices": "x"}, "--devices x"),
    ({"accelerator": "foo"}, "--accelerator foo"),
    ({"precision": "foo"}, "--precision foo"),
    ({"strategy": "foo"}, "--strategy foo"),
    ({"num_nodes": 0}, "--num-nodes 0"),
])
def test_refused_settings_are_named_and_leave_no_folder(
    settings: dict, named: str, tmp_path: Path
) -> None:
    with pytest.raises(GalmorphError, match=f"^cannot train with {named}: "):
        build_trainer(tmp_path / "run", epochs=1, progress=False, **settings)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_without_gpu_suggests_the_cpu(tmp_path: Path) -> None:
    with pytest.raises(GalmorphError, match="--accelerator gpu: .*use --accelerator cpu"):
        build_trainer(tmp_path / "run", epochs=1, progress=False, accelerator="gpu")
    assert not (tmp_path / "run").exists()


def test_a_working_trainer_makes_its_folder(tmp_path: Path) -> None:
    build_trainer(tmp_path / "run", epochs=1, progress=False, accelerator="cpu")
    assert (tmp_path / "run").is_dir()
