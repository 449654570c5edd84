"""The Python API runs like the command line unless told otherwise: the same defaults."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from galmorph.cli import build_parser
from galmorph.inference import (
    embed_catalog,
    embed_to_file,
    evaluate_catalog,
    predict_catalog,
    predict_to_file,
)
from galmorph.report import DemoSettings
from galmorph.search import evaluate_similarity


def _cli_default(command: str, option: str) -> object:
    outputs = {"evaluate": [], "similar-eval": ["--catalog", "c.csv"]}
    output = outputs.get(command, ["-o", "out.parquet"])
    return getattr(build_parser().parse_args([command, "catalog.csv", *output]), option)


@pytest.mark.parametrize(("function", "command"), [
    (predict_catalog, "predict"), (predict_to_file, "predict"),
    (embed_catalog, "embed"), (embed_to_file, "embed"), (evaluate_catalog, "evaluate"),
])
def test_inference_backend_defaults_to_the_command_line_s(
    function: Callable[..., object], command: str
) -> None:
    default = inspect.signature(function).parameters["backend"].default
    assert default == _cli_default(command, "backend") == "auto"


@pytest.mark.parametrize(("function", "command"), [
    (predict_catalog, "predict"), (predict_to_file, "predict"),
    (embed_catalog, "embed"), (embed_to_file, "embed"), (evaluate_catalog, "evaluate"),
    (evaluate_similarity, "similar-eval"),
])
def test_catalog_runs_use_a_gpu_when_there_is_one_as_the_command_line_does(
    function: Callable[..., object], command: str
) -> None:
    default = inspect.signature(function).parameters["device"].default
    assert default == _cli_default(command, "device") == "auto"


def test_demo_settings_default_to_the_command_line_s() -> None:
    args = build_parser().parse_args(["demo"])
    settings = DemoSettings()
    for name in ("out", "data", "device", "backend", "anomaly_labels", "ring_labels", "epochs",
                 "n_blocks", "seed", "progress"):
        assert getattr(settings, name) == getattr(args, name), name
