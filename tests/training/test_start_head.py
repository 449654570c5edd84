"""Training from a vote model of the same answers goes on from its head, not a random one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from galmorph.data import bundled
from galmorph.data.schemas import get_schema
from galmorph.models.model import ConcentrationHead
from galmorph.models.starts import Start, keep_start_head
from galmorph.training.finetune import finetune
from galmorph.training.train import train

KEPT = "kept: the start model answers the same questions"


def _frame(n: int) -> pd.DataFrame:
    frame = pd.read_csv(bundled.demo_catalog()).head(n)
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    return frame


def test_the_head_is_kept_only_for_the_same_answers_and_bound() -> None:
    schema = get_schema("gz2-no-odd")
    answers = tuple(a.full_name for a in schema.answers)
    start_head = ConcentrationHead(8, schema.n_answers, 0.2)
    start = Start(torch.nn.Identity(), "x", None, {"init": "pretrained"}, head=start_head,
                  answers=answers)
    head = ConcentrationHead(8, schema.n_answers, 0.2)
    assert keep_start_head(start, schema, head)
    assert torch.equal(head.linear.weight, start_head.linear.weight)
    other = ConcentrationHead(8, schema.n_answers, 0.2, min_concentration=1.0)
    assert not keep_start_head(start, schema, other)  # another bound: another head
    assert not torch.equal(other.linear.weight, start_head.linear.weight)
    gz2 = get_schema("gz2")
    assert not keep_start_head(start, gz2, ConcentrationHead(8, gz2.n_answers, 0.2))
    assert not keep_start_head(Start(torch.nn.Identity(), "x", None, {"init": "scratch"}),
                               schema, ConcentrationHead(8, schema.n_answers, 0.2))


def test_training_from_a_vote_model_of_the_same_answers_starts_from_its_answers(
        tmp_path: Path) -> None:
    options = dict(batch_size=8, num_workers=0, progress=False,
                   split_fractions=(0.7, 0.3, 0.0), epochs=1)
    kept = train(_frame(20), "gz2-no-odd", tmp_path / "kept", init="gz2-starter", **options)
    new = train(_frame(20), "gz2", tmp_path / "new", init="gz2-starter", **options)
    assert kept.metadata["training"]["start"]["head"] == KEPT
    assert "head" not in new.metadata["training"]["start"]  # other answers: a new head
    # before any training, the kept head already answers as the starter does
    assert kept.metadata["training"]["initial_val_loss"] < 25
    assert new.metadata["training"]["initial_val_loss"] > 40

    tuned = finetune(_frame(20), task="votes", schema="gz2-no-odd", output_dir=tmp_path / "f",
                     epochs=1, batch_size=8, num_workers=0, progress=False)
    assert tuned.metadata["training"]["head_init"] == KEPT
