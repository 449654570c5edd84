"""Tests of galmorph.training.vote_module: the Lightning module that trains vote models."""

from galmorph.data.schemas import get_schema
from galmorph.models.blocks import encoder_blocks
from galmorph.models.starts import starting_point
from galmorph.training.vote_module import VoteModule


def test_pretrained_starts_train_blocks_at_decayed_rates(tmp_path):
    start = starting_point("scratch", encoder="test_resnet")
    module = VoteModule(get_schema("gz2-no-odd"), "test_resnet", encoder=start.encoder,
                        learning_rate=1e-3, lr_decay=0.5)
    assert module.model.encoder is start.encoder
    module.trainer = type("T", (), {"estimated_stepping_batches": 10, "max_epochs": 1})()
    optimizer = module.configure_optimizers()["optimizer"]
    rates = sorted({g["initial_lr"] for g in optimizer.param_groups}, reverse=True)
    blocks = len(encoder_blocks(start.encoder))
    assert rates == [1e-3 * 0.5**d for d in range(blocks + 1)]  # head, then each block down
    grouped = sum(len(g["params"]) for g in optimizer.param_groups)
    assert grouped == len(list(module.parameters()))  # every parameter, once
