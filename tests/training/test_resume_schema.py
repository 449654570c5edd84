"""A resumed run's decision tree: named when changed, its question texts free to change."""

import pytest
import torch

from galmorph.data.tree import Schema
from galmorph.exceptions import GalmorphError
from galmorph.training.resume import check_resumable


def _tree(after: str = "edge-on/no", text: str = "Smooth?") -> dict:
    return Schema.from_dict({"name": "featured-bar", "questions": [
        {"name": "featured", "text": text, "answers": ["smooth", "features"]},
        {"name": "edge-on", "asked_after": "featured/features", "answers": ["yes", "no"]},
        {"name": "bar", "asked_after": after, "answers": ["yes", "no"]},
    ]}).to_dict()


def _checkpoint(tmp_path, schema: dict):
    path = tmp_path / "last.ckpt"
    torch.save({"galmorph": {"schema": schema}, "global_step": 7}, path)
    return path


def test_a_changed_tree_of_the_same_name_says_what_changed(tmp_path):
    with pytest.raises(GalmorphError) as caught:
        check_resumable(_checkpoint(tmp_path, _tree()), {"schema": _tree("edge-on/yes")})
    assert ("that run trained with --schema featured-bar as it was then (question 'bar' "
            "asked after edge-on/no, not edge-on/yes)") in str(caught.value)


def test_a_question_text_may_change_on_resume(tmp_path):
    earlier, steps = check_resumable(_checkpoint(tmp_path, _tree()),
                                     {"schema": _tree(text="Is it smooth and rounded?")})
    assert steps == 7 and earlier["schema"]["name"] == "featured-bar"
