"""Hardware settings Lightning refuses are a GalmorphError naming them; no folder is left."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from galmorph.exceptions import GalmorphError
from galmorph.inference.distributed import DistributedInference
from galmorph.training.trainer import build_trainer


@pytest.mark.parametrize(("settings", "named"), [
    ({"devices": 0}, "--devices 0"),
    ({"devices": "x"}, "--devices x"),
    ({"accelerator": "foo"}, "--accelerator foo"),
    ({"precision": "foo"}, "--precision foo"),
    ({"strategy": "foo"}, "--strategy foo"),
    ({"num_nodes": 0}, "--num-nodes 0"),
    ({"accelerator": "tpu"}, "--accelerator tpu"),  # Lightning knows it; torch_xla is missing
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


@pytest.mark.parametrize(("options", "named"), [
    ({"epochs": 0}, "epochs"), ({"epochs": -1}, "epochs"), ({"epochs": 2.5}, "epochs"),
    ({"batch_size": 0}, "batch_size"), ({"num_workers": -1}, "num_workers"),
    ({"max_minutes": 0}, "max_minutes"), ({"max_minutes": float("nan")}, "max_minutes"),
])
def test_train_checks_its_counts_before_any_work(
    options: dict, named: str, tmp_path: Path, make_catalog
) -> None:
    from galmorph.training.train import train

    with pytest.raises(ValueError, match=f"^{named} must be"):
        train(make_catalog(4), "gz2-no-odd", tmp_path / "run", **options)
    assert not (tmp_path / "run").exists()


def test_finetune_checks_its_counts_before_any_work(tmp_path: Path, make_catalog) -> None:
    from galmorph.training.finetune import finetune

    with pytest.raises(ValueError, match="^epochs must be"):
        finetune(make_catalog(4), tmp_path / "run", label="ring", epochs=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("settings", "named"), [
    ({"strategy": "nonsense"}, "--device cpu, --devices 2, --strategy nonsense"),
    ({"strategy": "dp"}, "--device cpu, --devices 2, --strategy dp"),
    ({"num_nodes": 0}, "--device cpu, --devices 2, --num-nodes 0"),
])
def test_prediction_names_the_settings_lightning_refuses(settings: dict, named: str) -> None:
    with pytest.raises(GalmorphError, match=f"^cannot predict with {named}: "):
        DistributedInference(**{"device": "cpu", "devices": 2, **settings}, progress=False)
