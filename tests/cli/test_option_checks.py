"""Bad option values: one ``error:`` line naming the option, no traceback, no empty folder."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from galmorph.cli import main
from galmorph.data import bundled
from galmorph.data.defaults import MAX_DEFAULT_WORKERS
from galmorph.exceptions import GalmorphError, GalmorphWarning

FAST = ["--epochs", "1", "--batch-size", "8", "--num-workers", "0", "--no-progress"]


@pytest.fixture
def catalog20(tmp_path: Path, demo_catalog: pd.DataFrame) -> Path:
    """20 bundled galaxies with absolute image paths, as a CSV file."""
    frame = demo_catalog.head(20).copy()
    frame["file_loc"] = [str(bundled.demo_dir() / loc) for loc in frame["file_loc"]]
    path = tmp_path / "cat20.csv"
    frame.to_csv(path, index=False)
    return path


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The stderr of an argparse usage error (exit status 2) from ``argv``."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["predict", "c.csv", "-o", "out.parquet"],
    ["embed", "c.csv", "-o", "out.parquet", "--resume"],
    ["evaluate", "c.csv"],
    ["train", "c.csv", "-o", "run"],
    ["finetune", "c.csv", "--label", "ring", "-o", "run"],
    ["adapt", "c.csv", "-o", "adapted.pt"],
    ["similar-eval", "emb.parquet", "--catalog", "c.csv"],
])
def test_negative_num_workers_is_a_usage_error(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    err = usage_error([*argv, "--num-workers", "-3"], capsys)
    assert "argument --num-workers: expected a whole number of 0 or more, got -3" in err
    assert list(tmp_path.iterdir()) == []  # no out.parquet.parts/, no run/


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``galmorph COMMAND --help``, its lines joined by single spaces."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["predict", "embed", "evaluate", "train", "finetune",
                                     "adapt", "similar-eval"])
def test_num_workers_help_gives_the_default_the_loaders_use(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = _help(command, capsys)
    cpu, cuda = MAX_DEFAULT_WORKERS["cpu"], MAX_DEFAULT_WORKERS["cuda"]
    assert f"--num-workers N image-decoding processes; 0 decodes in the main process (default: " \
           f"one fewer than the cores, at most {cpu}, or {cuda} with a CUDA GPU)" in shown


@pytest.mark.parametrize("command", ["predict", "embed", "evaluate", "demo"])
def test_backend_help_names_only_options_the_command_has(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = _help(command, capsys)
    has_mc_samples = "--mc-samples N" in shown
    assert has_mc_samples == (command in ("predict", "evaluate"))
    backend = shown[shown.index("--backend {auto,torch,onnx} torch:"):][:400]
    assert ("--mc-" in backend) == has_mc_samples  # argparse may wrap at the hyphen
    assert has_mc_samples or "auto: onnx on the CPU (about 2x faster), torch on a GPU" in backend


@pytest.mark.parametrize("split", [["0.5", "0.5", "0.5"], ["1.2", "-0.1", "-0.1"],
                                   ["nan", "nan", "nan"]])
def test_bad_split_names_the_option(split: list[str], catalog20: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", str(catalog20), "-o", str(run), "--split", *split, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --split ") and "summing to 1" in err
    assert "Traceback" not in err and not run.exists()


def test_unknown_encoder_is_named_with_close_names(catalog20: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", str(catalog20), "-o", str(run), "--encoder", "not_a_model", *FAST]) == 2
    assert "error: unknown encoder 'not_a_model': not a timm model name" in capsys.readouterr().err
    assert main(["finetune", str(catalog20), "--task", "regression", "--label", "ra", "-o",
                 str(run), "--from-scratch", "--encoder", "convnxt_atto", *FAST]) == 2
    err = capsys.readouterr().err
    assert "unknown encoder 'convnxt_atto'" in err and "did you mean convnext_atto" in err
    assert not run.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.filterwarnings("ignore::galmorph.exceptions.GalmorphWarning")
def test_gpu_accelerator_without_gpu_leaves_no_folder(
    catalog20: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", str(catalog20), "-o", str(run), "--image-size", "32",
                 "--accelerator", "gpu", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot train with --accelerator gpu: ") and "Traceback" not in err
    assert not run.exists()
    for option in (["--accelerator", "cuda"], ["--devices", "0"]):
        assert main(["finetune", str(catalog20), "--task", "regression", "--label", "ra", "-o",
                     str(run), "--from-scratch", "--encoder", "resnet18", "--image-size", "32",
                     *option, *FAST]) == 2
        assert f"error: cannot train with {' '.join(option)}: " in capsys.readouterr().err
        assert not run.exists()


def test_serve_port_out_of_range_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(["serve", "emb.parquet", "--port", "99999"], capsys)
    assert "argument --port: expected a whole number from 0 to 65535, got 99999" in err


def test_serve_refuses_a_busy_port_before_its_banner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(tmp_path / "emb.parquet"), "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"error: port {port} on 127.0.0.1 is in use: choose another "
                            "with --port\n")
    assert captured.out == ""
    assert main(["serve", "emb.parquet", "--host", "no-such-host.invalid"]) == 2
    assert capsys.readouterr().err.startswith("error: --host no-such-host.invalid: ")


def test_port_zero_is_a_free_port() -> None:
    from galmorph.cli.serve import check_can_listen

    assert 0 < check_can_listen("127.0.0.1", 0) <= 65535


@pytest.mark.parametrize(("query", "option"), [
    (["--ra", "10", "--dec", "95"], "--dec"), (["--ra", "10", "--dec", "-90.5"], "--dec"),
    (["--ra", "360", "--dec", "0"], "--ra"), (["--ra", "-1", "--dec", "0"], "--ra"),
])
def test_similar_checks_sky_coordinates(query: list[str], option: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert f"argument {option}: expected degrees from" in usage_error(
        ["similar", "emb.parquet", *query], capsys)


def test_failed_demo_leaves_no_folder_it_made(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dm" / "sub"
    assert main(["demo", "--data", str(tmp_path / "none.csv"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "dm").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["demo", "--data", str(tmp_path / "none.csv"), "-o", str(kept)]) == 2
    assert kept.is_dir()  # it was there before


def test_no_new_empty_dir_keeps_what_it_did_not_make_or_what_is_filled(tmp_path: Path) -> None:
    from galmorph.cli._common import no_new_empty_dir

    with pytest.raises(GalmorphError), no_new_empty_dir(tmp_path / "a" / "b"):
        (tmp_path / "a" / "b").mkdir(parents=True)
        raise GalmorphError("failed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(GalmorphError), no_new_empty_dir(tmp_path / "a" / "b"):
        (tmp_path / "a" / "b").mkdir(parents=True)
        (tmp_path / "a" / "b" / "log.csv").write_text("x")
        raise GalmorphError("failed")
    assert (tmp_path / "a" / "b" / "log.csv").is_file()
    with no_new_empty_dir(tmp_path / "c"):
        (tmp_path / "c").mkdir()
    assert (tmp_path / "c").is_dir()  # kept when the block succeeds


def test_options_are_taken_only_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    """``--device`` must not silently become ``--devices`` (argparse's abbreviations)."""
    with pytest.raises(SystemExit) as caught:
        main(["finetune", "x.csv", "-o", "run", "--device", "cpu"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --device cpu" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [
    ("--lr", "nan"), ("--lr", "-1"), ("--weight-decay", "nan"), ("--dropout", "2"),
    ("--centre-jitter", "nan"), ("--centre-jitter", "0.7"), ("--crop-fraction", "nan 1"),
    ("--seed", "-1"), ("--seed", "99999999999"), ("--split-seed", "-1"),
])
def test_train_numbers_out_of_range_are_usage_errors(
    option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, these reached torch or numpy and ended in a traceback (--lr nan after
    writing run/logs/)."""
    run = tmp_path / "run"
    err = usage_error(["train", "c.csv", "-o", str(run), option, *value.split()], capsys)
    assert f"argument {option}: expected " in err and "Traceback" not in err
    assert not run.exists()


@pytest.mark.parametrize("argv", [
    ["finetune", "c.csv", "--label", "ring", "-o", "run", "--split-seed", "-1"],
    ["adapt", "c.csv", "-o", "a.pt", "--seed", "-1"],
])
def test_negative_seeds_name_the_option(argv: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert f"argument {argv[-2]}: expected a whole number from 0 to " in usage_error(argv, capsys)


def test_crop_fraction_of_train_is_checked_before_training(
    catalog20: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main(["train", str(catalog20), "-o", str(run), "--crop-fraction", "0.9", "0.5",
                 *FAST]) == 2
    assert capsys.readouterr().err == "error: --crop-fraction needs MIN <= MAX <= 1, got 0.9 0.5\n"
    assert not run.exists()


@pytest.mark.parametrize(("option", "values", "message"), [
    ("--interesting-threshold", ["nan"], "expected a finite number, got nan"),
    ("--mean", ["0.5", "inf", "0.5"], "expected a finite number, got inf"),
    ("--std", ["0.2", "0", "0.2"], "expected a number above 0, got 0"),
])
def test_numbers_that_are_not_usable_name_their_option(
    option: str, values: list[str], message: str, capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, --interesting-threshold nan made nothing interesting, silently."""
    argv = (["anomaly", "benchmark", "emb.parquet", "--truth", "c.csv", "--score-column", "s"]
            if option == "--interesting-threshold" else ["embed", "c.csv", "-o", "e.parquet"])
    assert f"argument {option}: {message}" in usage_error([*argv, option, *values], capsys)


def test_galmorph_alone_lists_the_commands_and_where_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: a usage error, 'the following arguments are required: COMMAND'."""
    assert main([]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "similar find the galaxies most similar" in out
    assert "New here? 'galmorph demo' runs every job on the bundled galaxies" in out


def test_a_wildcard_the_shell_expanded_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = []
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / name).mkdir()
        parts.append(tmp_path / name / "x.parquet")
        parts[-1].write_bytes(b"")
    err = usage_error(["predict", *map(str, parts), "-o", str(tmp_path / "out")], capsys)
    assert "put the pattern in quotes" in err
    assert f"{parts[3]} and 1 more" in err and str(parts[4]) not in err
    err = usage_error(["predict", str(parts[0]), "--nonsense", "-o", "out"], capsys)
    assert "unrecognized arguments: --nonsense" in err and "quotes" not in err


@pytest.mark.parametrize(("argv", "command", "extra"), [
    (["cutouts", "t.csv", "-o", "x", "--num-workers", "0"], "cutouts", "--num-workers 0"),
    (["anomaly", "next", "--session", "s.db", "--bogus"], "anomaly next", "--bogus"),
])
def test_an_option_a_command_lacks_is_named_with_the_command(
        argv: list[str], command: str, extra: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(argv, capsys)
    assert err.startswith(f"usage: galmorph {command} ")
    assert f"galmorph {command}: error: unrecognized arguments: {extra}" in err
    before = usage_error(["--bogus", *argv[:-len(extra.split())]], capsys)  # not the command's
    assert "galmorph: error: unrecognized arguments: --bogus" in before


def test_messages_name_options_not_python_arguments() -> None:
    from galmorph.cli import cli_wording

    assert cli_wording("weigh them with class_weights='balanced' (--class-weights balanced); "
                       "batch_size (--batch-size) must be 1 or more; the match radius "
                       "(--match-radius)") == ("weigh them with --class-weights balanced; "
                                               "--batch-size must be 1 or more; the match "
                                               "radius (--match-radius)")
    from galmorph.cli import _friendly_output

    with _friendly_output():  # warnings are worded the same way
        shown = warnings.formatwarning(GalmorphWarning("use overwrite=True (--force)"),
                                       GalmorphWarning, "x.py", 1)
    assert shown == "warning: use --force\n"
