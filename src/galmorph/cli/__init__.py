"""The ``galmorph`` command: one sub-command per job.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it. Errors caused by user input (:class:`galmorph.GalmorphError`) and
files that cannot be read or written (:class:`OSError` naming a file) are printed as
one clear message with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from galmorph import __version__
from galmorph.cli._common import make_console, names_rows, styled
from galmorph.data.defaults import ROWS_NOTE
from galmorph.exceptions import CatalogError, GalmorphError, GalmorphWarning, user_message

#: Exit status when the reader of standard output closed it early (``| head``): 1, as
#: rich's console gives when it meets the closed pipe in a table, and Python's recipe.
BROKEN_PIPE_STATUS = 1

#: Sub-command modules, in the order ``galmorph --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo", "demo_data", "cutouts", "validate", "train", "predict", "evaluate", "finetune", "embed",
    "reduce", "similar", "similar_eval", "adapt", "export", "anomaly", "serve",
)

err_console = make_console(stderr=True)


class WholeOptionParser(argparse.ArgumentParser):
    """An argument parser that takes options only as written in full, as do its
    sub-commands' parsers: ``--device cpu`` is never read as ``--devices cpu``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """argparse's usage error, saying so when the arguments left over are files: the
        shell expanded a wildcard (``cat/*/x.parquet``) that galmorph was to read itself."""
        extra = message.removeprefix(UNRECOGNIZED).split()
        if message.startswith(UNRECOGNIZED) and all(os.path.exists(a) for a in extra):
            more = f" and {len(extra) - 3} more" if len(extra) > 3 else ""
            message = (f"{UNRECOGNIZED}{' '.join(extra[:3])}{more}\n(the shell expanded a "
                       "wildcard into these files: put the pattern in quotes, e.g. "
                       "'catalog/*/*.parquet', or give the folder)")
        super().error(message)


#: How argparse's usage error for arguments left over begins.
UNRECOGNIZED = "unrecognized arguments: "


def build_parser() -> argparse.ArgumentParser:
    """The ``galmorph`` argument parser, with every sub-command registered."""
    parser = WholeOptionParser(
        prog="galmorph",
        description="Galaxy morphology tools from deep supervised representations.",
        epilog="New here? 'galmorph demo' runs every job on the bundled galaxies and writes "
               "an HTML report; 'galmorph COMMAND --help' lists a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"galmorph {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"galmorph.cli.{name}").register(subparsers)
    _remember_parsers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub-)command's parser as ``args.parser``, so that a usage error names and
    shows the command it is about (``galmorph cutouts: error: ...``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.set_defaults(parser=command)
                _remember_parsers(command)


def cli_wording(message: str) -> str:
    """A message of the Python API as the command line says it: ``class_weights='balanced'
    (--class-weights balanced)`` and ``batch_size (--batch-size)`` become the option alone.

    Example:
        >>> cli_wording("use task='regression' (--task regression); pca (--pca) is 3")
        'use --task regression; --pca is 3'
    """
    message = _PYTHON_VALUE.sub(r"\1", message)
    return _PYTHON_NAME.sub(lambda m: m[2] if "_" in m[1] or m[2] == f"--{m[1]}" else m[0],
                            message)


#: A keyword argument and its value, then its option: ``only_unseen=True (--only-unseen)``.
_PYTHON_VALUE = re.compile(r"\b[a-z_]+=(?:'[^']*'|\"[^\"]*\"|[^\s,;()]+) \((--[a-z-]+[^()]*)\)")
#: A parameter's name, then its option: ``n_labels (--labels)``, ``pca (--pca)``.
_PYTHON_NAME = re.compile(r"\b([a-z]+(?:_[a-z]+)*) \((--[a-z-]+)\)")


@contextmanager
def _friendly_output() -> Iterator[None]:
    """galmorph's warnings as one ``warning:`` line each; Lightning's start-up chatter hidden.

    Only the formatting changes, so code that records warnings still sees them.
    """
    original = warnings.formatwarning

    def format_warning(message, category, filename, lineno, line=None):  # noqa: ANN001
        if issubclass(category, GalmorphWarning):
            return f"warning: {cli_wording(str(message))}\n"
        return original(message, category, filename, lineno, line)

    # Lightning sets its own log level when first imported (inside a command), so its
    # start-up lines are dropped by a filter on the logger they are written to.
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    chatter = _BelowWarning()
    warnings.formatwarning = format_warning
    rank_zero_log.addFilter(chatter)
    try:
        yield
    finally:
        warnings.formatwarning = original
        rank_zero_log.removeFilter(chatter)


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _error(message: str) -> int:
    err_console.print(styled("error:", "bold red", f" {message}"))
    return 2


def file_error(err: OSError) -> str:
    """The message of an error about the file ``err.filename``: for a path through a
    file where a folder is needed (e.g. ``-o catalog.csv/run``), which file is in the way."""
    path = Path(err.filename)
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocking == path:
            return f"{path} is a file, not a folder: give a folder (or a new name)"
        if blocking is not None:
            return f"cannot write {path}: {blocking} is a file, not a folder"
    return f"{err.strerror or err}: {err.filename}"


def _discard_stdout() -> None:
    """Point standard output at the null device, so that Python's flush at exit does not
    hit the closed pipe again (and print a second error)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``galmorph`` console script; returns the exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # the commands, rather than a usage error
        parser.print_help()
        return 0
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command they were given to (before it: by galmorph)
        before = argv.index(extra[0]) < argv.index(args.command) if extra[0] in argv else False
        (parser if before else getattr(args, "parser", parser)).error(
            UNRECOGNIZED + " ".join(extra))
    try:
        with _friendly_output():
            status = args.func(args)
            sys.stdout.flush()  # here, so that a reader gone early is caught below
    except GalmorphError as err:
        status = _error(cli_wording(user_message(err)))
        if isinstance(err, CatalogError) and names_rows(str(err)):
            err_console.print(styled(ROWS_NOTE, "dim"))
        return status
    except BrokenPipeError:  # the reader stopped early (| head): stop quietly, as Unix tools do
        _discard_stdout()
        return BROKEN_PIPE_STATUS
    except OSError as err:
        if err.filename is None:  # not about a file: a bug or the system, keep its traceback
            raise
        return _error(file_error(err))
    except KeyboardInterrupt:
        err_console.print(styled("interrupted", "yellow"))
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
