"""The package's shape: layers that import downwards only, small modules, a light CLI.

See docs/architecture.md for the map these tests hold the code to.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "galmorph"

#: Layer of each top-level part of the package; a module imports only from its own
#: part or from parts of lower layers (``cli`` may also use ``web``, to serve it).
LAYERS = {
    "exceptions": 0, "files": 0, "numbers": 0,
    "data": 1,
    "models": 2,
    "inference": 3,
    "training": 4,
    "search": 5, "anomaly": 5,
    "report": 6,
    "cli": 7, "web": 7,
}
ALSO_ALLOWED = {("cli", "web")}

MAX_LINES = 400

#: Libraries that only the commands that use them may import.
HEAVY = ("torch", "timm", "lightning", "faiss", "onnxruntime", "dask", "distributed", "umap",
         "numba", "matplotlib")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(path: Path) -> str | None:
    """``data``, ``models``, ... for a module; None for the package root and __main__."""
    relative = path.relative_to(PACKAGE).with_suffix("")
    part = relative.parts[0]
    return part if part in LAYERS else None


def _galmorph_imports(path: Path) -> set[str]:
    """Parts of galmorph a module imports, at module level or inside functions."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "galmorph" else [
                f"galmorph.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "galmorph" and len(pieces) > 1 and pieces[1] in LAYERS:
                parts.add(pieces[1])
    return parts


def test_layers_import_downwards_only() -> None:
    wrong = []
    for path in _modules():
        part = _part(path)
        if part is None:
            continue
        for imported in _galmorph_imports(path) - {part}:
            if (part, imported) in ALSO_ALLOWED:
                continue
            if LAYERS[imported] >= LAYERS[part]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports galmorph.{imported}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from galmorph.report.html import write_report\n"
                      "from galmorph import data\n")
    assert _galmorph_imports(module) == {"report", "data"}


def test_modules_are_small() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_web_scripts_are_small() -> None:
    """The web page's JavaScript keeps the modules' limit: one file per part of the page."""
    scripts = sorted((PACKAGE / "web" / "static").glob("*.js"))
    assert len(scripts) >= 3, scripts
    long = {p.name: n for p in scripts if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_every_folder_is_a_subpackage_with_a_public_api() -> None:
    folders = [p for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))]
    assert len(folders) >= 6
    for folder in folders:
        init = folder / "__init__.py"
        assert init.is_file(), folder
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"


def test_the_map_lists_every_module_in_its_part() -> None:
    """docs/architecture.md's table names each module in its part's row (cli: per command)."""
    table = {}
    for line in (PACKAGE.parents[1] / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 3 and cells[0].startswith(("`", "(package root)")):
            part = cells[0].strip("`") if cells[0].startswith("`") else ""
            table[part] = set(cells[1].replace("`", "").replace(";", ",").split(", "))
    for path in _modules():
        relative = path.relative_to(PACKAGE).with_suffix("")
        part = relative.parts[0] if len(relative.parts) > 1 else ""
        if relative.name in ("__init__", "__main__") or part in ("cli", "demo_data", "weights"):
            continue
        assert relative.name in table.get(part, set()), (
            f"docs/architecture.md does not list {'/'.join(relative.parts)} in its "
            f"{part or 'package root'} row")


def test_every_public_name_of_a_subpackage_resolves() -> None:
    import importlib

    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    for folder in folders:
        package = importlib.import_module(f"galmorph.{folder}")
        for name in getattr(package, "__all__", []):
            assert hasattr(package, name), f"galmorph.{folder}.{name} does not resolve"


def test_no_block_of_code_is_repeated_across_modules() -> None:
    """pylint's duplicate-code check, at 8 lines (imports, docstrings and signatures aside)."""
    pytest.importorskip("pylint")
    done = subprocess.run(
        [sys.executable, "-m", "pylint", "--disable=all", "--enable=duplicate-code",
         "--min-similarity-lines=8", "--score=n", str(PACKAGE)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:]


def _imported_after(code: str, tmp_path: Path) -> set[str]:
    """Top-level modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "print('MODULES=' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    line = [x for x in done.stdout.splitlines() if x.startswith("MODULES=")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    return set(json.loads(line[-1].removeprefix("MODULES=")))


def _help(argv: list[str]) -> str:
    return (
        "from galmorph.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
    )


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    from galmorph.cli import COMMANDS

    code = _help(["--help"]) + "".join(
        _help([name.replace("_", "-"), "--help"]) for name in COMMANDS)
    imported = _imported_after(code, tmp_path)
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_help_lists_every_command(tmp_path: Path) -> None:
    from galmorph.cli import COMMANDS

    done = subprocess.run([sys.executable, "-m", "galmorph", "--help"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0
    for name in COMMANDS:
        assert name.replace("_", "-") in done.stdout


@pytest.mark.parametrize("extra", [[], ["--schema", "gz2"]])
def test_validate_never_imports_torch(tmp_path: Path, extra: list[str]) -> None:
    from galmorph.data.bundled import demo_catalog

    code = (
        "from galmorph.cli import main\n"
        f"status = main(['validate', {str(demo_catalog())!r}, *{extra!r}])\n"
        "assert status == 0, status\n"
    )
    imported = _imported_after(code, tmp_path)
    assert "galmorph" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_similar_by_id_imports_no_deep_learning_library(tmp_path: Path) -> None:
    """A query by id needs only the embeddings file: torch, timm and the model load
    only for a query by image (they cost 5-8 s of start-up)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from galmorph.inference.embeddings import METADATA_KEY, EmbeddingInfo

    info = EmbeddingInfo(model={"spec": "-", "path": "-", "name": "-", "sha256": "-"},
                         encoder="-", feature_dim=8, image={}, n_features=8)
    features = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    table = pa.table({"id_str": [f"g{i}" for i in range(30)],
                      **{f"feat_{j}": features[:, j] for j in range(8)}})
    path = tmp_path / "emb.parquet"
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: info.to_json()}), path)
    code = (
        "from galmorph.cli import main\n"
        f"status = main(['similar', {str(path)!r}, '--id', 'g3', '-k', '4', '--json'])\n"
        "assert status == 0, status\n"
    )
    imported = _imported_after(code, tmp_path)
    assert not imported & {"torch", "timm", "lightning"}, sorted(imported & set(HEAVY))


def test_prediction_and_embedding_import_no_lightning(tmp_path: Path) -> None:
    """Lightning (1-2 s of start-up) is for training and multi-GPU runs only."""
    imported = _imported_after(
        "import galmorph.inference.predict, galmorph.inference.embed, galmorph.inference.evaluate",
        tmp_path)
    assert "torch" in imported and "lightning" not in imported
