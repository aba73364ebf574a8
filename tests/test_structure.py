"""The package's shape, held: short functions with few parameters, and layers that import only downward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "yolo_transfer"
MAX_LINES = 80
MAX_PARAMS = 12
# public entry points whose keywords are the user's options (the options-typed ones take them as **kwargs)
WIDE_ENTRY_POINTS: set[str] = set()


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(PACKAGE).as_posix(), node


def _params(node) -> int:
    a = node.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    return n - (1 if a.args and a.args[0].arg in ("self", "cls") else 0)


def test_no_function_is_over_80_lines():
    long = [f"{p}:{n.name} ({n.end_lineno - n.lineno + 1} lines)" for p, n in _functions()
            if n.end_lineno - n.lineno + 1 > MAX_LINES]
    assert not long, f"split these (a step each): {long}"


def test_no_function_takes_over_12_parameters_but_the_public_entry_points():
    wide = [f"{p}:{n.name} ({_params(n)})" for p, n in _functions()
            if _params(n) > MAX_PARAMS and f"{p}:{n.name}" not in WIDE_ENTRY_POINTS]
    assert not wide, f"give these an options type or a small record: {wide}"


@pytest.mark.parametrize("layer", ["strategy", "inference", "training", "data", "utils"])
def test_lower_layers_do_not_import_the_exporter(layer):
    """The image kernel (letterbox, NMS, suffixes) lives in utils/: nothing below export needs exporter/."""
    hits = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("yolo_transfer.exporter"):
                hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not hits, hits


def test_utils_import_nothing_above_them():
    hits = []
    for path in (PACKAGE / "utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for m in mods:
                if m.startswith("yolo_transfer.") and not m.startswith(("yolo_transfer.utils", "yolo_transfer.errors")):
                    hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {m}")
    assert not hits, hits


def test_the_sweep_layer_sits_between_training_and_the_sweeps():
    """`sweep/` (trials, the Ray executor) serves comparison/ and strategy/; it imports neither, and training/ (below
    it) does not import it."""
    hits = []
    for layer, above in (("sweep", ("yolo_transfer.comparison", "yolo_transfer.strategy", "yolo_transfer.cli")),
                         ("training", ("yolo_transfer.sweep",))):
        for path in (PACKAGE / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(above):
                    hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {node.module}")
    assert not hits, hits
