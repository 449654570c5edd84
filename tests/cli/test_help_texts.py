"""Every option of every command says what it does and, where it has one, its default."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from galmorph.cli import build_parser


def _options(parser: argparse.ArgumentParser, command: str
             ) -> Iterator[tuple[str, argparse.Action]]:
    """(command, option) for every option of ``parser`` and its sub-commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{command} {name}")
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            yield command, action


OPTIONS = list(_options(build_parser(), "galmorph"))


def _has_default(action: argparse.Action) -> bool:
    default = action.default
    return not (default is None or default is False or default is argparse.SUPPRESS
                or (isinstance(default, (tuple, list)) and not default))


def test_options_are_found() -> None:
    commands = {command for command, _ in OPTIONS}
    assert {"galmorph train", "galmorph finetune", "galmorph anomaly start"} <= commands
    assert len(OPTIONS) > 200


@pytest.mark.parametrize(("command", "action"), OPTIONS,
                         ids=[f"{c[9:]} {a.option_strings[-1]}" for c, a in OPTIONS])
def test_every_option_is_explained_with_its_default(command: str,
                                                    action: argparse.Action) -> None:
    name = action.option_strings[-1]
    assert action.help, f"{command} {name} has no help text"
    if _has_default(action) and not isinstance(action, argparse._VersionAction):
        assert "default" in action.help, (
            f"{command} {name} does not say its default ({action.default!r})")


def test_trains_learning_rate_schedule_is_not_confused_with_a_dask_scheduler() -> None:
    parser = build_parser()
    assert parser.parse_args(["train", "c.csv", "-o", "r"]).scheduler == "cosine"
    for option in ("--lr-schedule", "--scheduler"):  # the old name still works
        assert parser.parse_args(["train", "c.csv", "-o", "r", option, "plateau"]
                                 ).scheduler == "plateau"
    train = next(a for c, a in OPTIONS if c == "galmorph train" and a.dest == "scheduler")
    assert train.option_strings[0] == "--lr-schedule" and "not the Dask" in train.help
