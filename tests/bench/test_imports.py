"""Every bench script names only what the package has: a moved or renamed function fails here, not in a user's run."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("yolo_transfer"):
            for alias in node.names:
                yield node.lineno, node.module, alias.name


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_a_bench_script_imports_what_exists(script):
    missing = []
    for line, module, name in _imports(BENCH / script):
        mod = importlib.import_module(module)
        if not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{script}:{line} {module}.{name}")
    assert not missing, missing
