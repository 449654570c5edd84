"""The tutorials in docs/ run as written: every ```bash block, in order, in an empty folder.

Each tutorial's commands run with ``bash -euo pipefail`` in a temporary folder, with
the running Python's ``bin`` folder (the virtual environment with ``galmorph``)
first on ``PATH``; the test asserts exit status 0 and that every file listed under
the tutorial's "Files this tutorial makes" heading exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
TUTORIALS = sorted(DOCS.glob("tutorial-*.md"))
FILES_HEADING = "## Files this tutorial makes"


def bash_blocks(text: str) -> list[str]:
    """The contents of the ```bash fenced blocks, in order."""
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def listed_files(text: str) -> list[str]:
    """The `paths` listed as bullets under FILES_HEADING."""
    assert FILES_HEADING in text, f"no {FILES_HEADING!r} section"
    section = text.split(FILES_HEADING, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([^`]+)`", section, flags=re.M)


def test_every_tutorial_is_found() -> None:
    names = {p.name for p in TUTORIALS}
    assert {"tutorial-finetune.md", "tutorial-similarity.md", "tutorial-anomalies.md",
            "tutorial-train.md"} <= names


@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_as_written(tutorial: Path, tmp_path: Path) -> None:
    text = tutorial.read_text(encoding="utf-8")
    blocks = bash_blocks(text)
    assert blocks, "no bash blocks"
    assert blocks[0].splitlines()[0] == "galmorph demo-data demo", "must start from the demo data"
    files = listed_files(text)
    assert files, "no files listed"
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "100"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, (
        f"{tutorial.name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    missing = [f for f in files if not (tmp_path / f).is_file()]
    assert not missing, f"{tutorial.name} did not make {missing}"
    for name in files:
        assert (tmp_path / name).stat().st_size > 0, f"{name} is empty"


#: Shell tokens that end a command: pipes, lists and redirections.
COMMAND_ENDS = {"|", "||", "&&", ";", "&"}


def galmorph_commands(text: str) -> list[list[str]]:
    """The arguments of every ``galmorph`` command in the ```bash blocks of ``text``:
    each line split as the shell does (quotes kept together, comments left out), then cut
    at pipes, lists and redirections."""
    commands = []
    for block in bash_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:  # a line of a here-document (Python), not a command
                assert not line.lstrip().startswith("galmorph "), line
                continue
            command: list[str] = []
            for token in [*tokens, ";"]:
                if token in COMMAND_ENDS or token.startswith((">", "2>", "<")):
                    if command[:1] == ["galmorph"]:
                        commands.append(command[1:])
                    command = []
                else:
                    command.append(token)
    return commands


def test_commands_are_read_as_the_shell_reads_them() -> None:
    block = ("```bash\ngalmorph similar e.parquet --where \"bar > 0.5\" -k 3 > out.json\n"
             "ls | galmorph validate c.csv 2>/dev/null && galmorph predict c.csv -o p.csv"
             "  # note\n```\n")
    assert galmorph_commands(block) == [
        ["similar", "e.parquet", "--where", "bar > 0.5", "-k", "3"],
        ["validate", "c.csv"], ["predict", "c.csv", "-o", "p.csv"]]


@pytest.mark.parametrize("page", [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))],
                         ids=lambda p: p.stem)
def test_commands_shown_are_accepted(page: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every ``galmorph`` command in a page's bash blocks parses: no option renamed or
    misspelt (the tutorials also run; the README's need data of your own)."""
    from galmorph.cli import build_parser

    commands = galmorph_commands(page.read_text(encoding="utf-8"))
    assert commands or page.name in {"architecture.md", "known-limits.md",
                                     "model-card-notes.md"}, f"{page.name}: no command"
    for args in commands:
        try:
            build_parser().parse_args(args)
        except SystemExit as exit_:
            assert not exit_.code, (
                f"{page.name}: galmorph {' '.join(args)}: {capsys.readouterr().err}")


@pytest.mark.parametrize("page", [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))],
                         ids=lambda p: p.stem)
def test_relative_links_exist(page: Path) -> None:
    """Every link of the README and docs pages to a file of the repository finds it."""
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text)
    assert targets or page.name == "architecture.md", f"{page.name}: no links found"
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing {missing}"


#: Put before the README's examples: ``demo_catalog()`` gives the catalog at ``{path}``.
SMALLER_DEMO = """\
from pathlib import Path

import galmorph.data.bundled

galmorph.data.bundled.demo_catalog = lambda: Path({path!r})
"""


def test_readme_python_examples_run(tmp_path: Path, demo_subset: Callable[..., Path]) -> None:
    """The README's Python examples that need only the bundled data run, in order, as one
    script (the anomaly example uses the similarity example's embeddings).

    They run as written, but ``demo_catalog()`` gives 60 of the 630 bundled galaxies (14
    of them rings, for the fine-tuning example; the similarity example's galaxy among
    them): on all 630 the four passes of the starter over 8 views of every galaxy took
    6-14 minutes on 2 busy cores.
    """
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    runnable = [b for b in blocks if '"catalog.csv"' not in b]  # those needing your own data
    assert len(runnable) == 4, "expected predict, similarity, anomaly and fine-tuning examples"
    script = tmp_path / "examples.py"
    subset = demo_subset()
    script.write_text("\n".join([SMALLER_DEMO.format(path=str(subset)), *runnable]),
                      encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for made in ("predictions.parquet", "embeddings.parquet", "hunt.db", "runs/rings/model.pt"):
        assert (tmp_path / made).is_file(), made
    for printed in ("distance", "interest", "prob_1"):  # each example printed its table
        assert printed in done.stdout, printed
    assert len(pd.read_parquet(tmp_path / "predictions.parquet")) == len(pd.read_csv(subset))


def _modules() -> list[str]:
    """Every module of the package (but ``__main__``, which runs the command line)."""
    import pkgutil

    import galmorph

    return sorted(info.name for info in pkgutil.walk_packages(galmorph.__path__, "galmorph.")
                  if not info.name.endswith("__main__"))


def test_docstring_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    failed, tried = {}, 0
    for name in _modules():
        result = doctest.testmod(importlib.import_module(name), report=False,
                                 optionflags=doctest.ELLIPSIS)
        tried += result.attempted
        if result.failed:
            failed[name] = result.failed
    assert tried > 100
    assert not failed, f"failing docstring examples (run pytest --doctest-modules): {failed}"
