"""Tests of galmorph.training.finetune_module: frozen blocks get no gradients, stay in
eval mode and are left out of the optimizer; the others train at decayed rates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from galmorph.models.model import GalaxyModel, LinearHead, create_encoder
from galmorph.training.finetune_module import FinetuneModule


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer, by name."""
    return {
        n: t.detach().clone()
        for n, t in [*module.named_parameters(), *module.named_buffers()]
    }


def _resnet_module(n_blocks: int, **kwargs: object) -> FinetuneModule:
    torch.manual_seed(0)
    encoder = create_encoder("test_resnet")
    model = GalaxyModel(encoder, LinearHead(encoder.num_features, 2, dropout=0.0))
    return FinetuneModule(model, "classification", n_blocks=n_blocks, **kwargs)


def test_frozen_blocks_get_no_gradients_and_do_not_change_in_optimizer_steps() -> None:
    module = _resnet_module(n_blocks=1, learning_rate=1e-2)
    encoder = module.model.encoder
    before = _tensors(encoder)
    head_before = _tensors(module.model.head)
    optimizer = torch.optim.AdamW(module.parameter_groups())
    module.train()
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        batch = {
            "image": torch.randn(8, 3, 32, 32, generator=generator) * 3 + 1,
            "target": torch.randint(0, 2, (8,), generator=generator),
        }
        optimizer.zero_grad(set_to_none=True)
        module.training_step(batch, 0).backward()
        for name, parameter in encoder.named_parameters():
            if name.startswith("layer4."):
                assert parameter.grad is not None, name
            else:
                assert parameter.grad is None, name
        optimizer.step()
    after = _tensors(encoder)
    frozen = [n for n in before if not n.startswith("layer4.")]
    assert any("running_mean" in n for n in frozen)
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before["layer4.0.bn1.running_mean"], after["layer4.0.bn1.running_mean"])
    assert not torch.equal(before["layer4.0.conv1.weight"], after["layer4.0.conv1.weight"])
    assert not torch.equal(head_before["linear.weight"], module.model.head.linear.weight)


def test_frozen_modules_stay_in_eval_mode() -> None:
    module = _resnet_module(n_blocks=2)
    module.train()
    encoder = module.model.encoder
    assert not encoder.layer2.training and not encoder.bn1.training
    assert not encoder.layer2[0].bn1.training
    assert encoder.layer3.training and encoder.layer4[0].bn1.training
    assert module.model.head.training
    module.eval()
    assert not encoder.layer4.training
    module.train()
    assert encoder.layer4.training and not encoder.layer1.training


def test_learning_rate_decays_per_block_and_frozen_parameters_are_left_out() -> None:
    module = _resnet_module(n_blocks=2, learning_rate=1e-3, lr_decay=0.5, weight_decay=0.1)
    encoder = module.model.encoder
    lr_of = {}
    decay_of = {}
    for group in module.parameter_groups():
        for parameter in group["params"]:
            lr_of[id(parameter)] = group["lr"]
            decay_of[id(parameter)] = group["weight_decay"]
    assert lr_of[id(module.model.head.linear.weight)] == pytest.approx(1e-3)
    assert lr_of[id(encoder.layer4[0].conv1.weight)] == pytest.approx(5e-4)
    assert lr_of[id(encoder.layer3[0].conv1.weight)] == pytest.approx(2.5e-4)
    assert decay_of[id(encoder.layer3[0].conv1.weight)] == pytest.approx(0.1)
    assert decay_of[id(encoder.layer3[0].bn1.weight)] == 0.0
    assert id(encoder.layer2[0].conv1.weight) not in lr_of
    assert id(encoder.conv1[0].weight) not in lr_of
    assert len(lr_of) == sum(p.requires_grad for p in module.parameters())


class _FixedLogits(nn.Module):
    """Answers the same logits whatever the images."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_balanced_accuracy_averages_only_the_classes_with_validation_galaxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Class 2 has no validation galaxies but is predicted once: (1/2 + 2/2) / 2 = 0.75."""
    torch.manual_seed(0)
    encoder = create_encoder("test_resnet")
    module = FinetuneModule(GalaxyModel(encoder, LinearHead(encoder.num_features, 3, 0.0)),
                            "classification")
    module.model = _FixedLogits(torch.eye(3)[[0, 2, 1, 1]] * 5)
    logged: dict[str, object] = {}
    monkeypatch.setattr(module, "log", lambda name, value, **_: logged.__setitem__(name, value))
    module.validation_step({"image": torch.zeros(4, 3, 32, 32),
                            "target": torch.tensor([0, 0, 1, 1])}, 0)
    module.on_validation_epoch_end()
    value = logged["val_balanced_accuracy"]
    value = value.compute() if hasattr(value, "compute") else value
    assert float(value) == pytest.approx(0.75)
    assert float(logged["val_accuracy"]) == pytest.approx(0.75)
