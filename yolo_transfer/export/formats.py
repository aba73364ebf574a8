"""The export formats: the runtimes of `yolo_transfer.runtimes` that `export` can build for.

Kept as the export-side names (`FORMATS`, `get_format`, `format_of_path`) over the one runtime table, so what a
format is (suffix, precisions, requirements, default shapes) is written in one place.
"""

from __future__ import annotations

from yolo_transfer.errors import UserError
from yolo_transfer.runtimes import BUILD_PRECISIONS as PRECISIONS
from yolo_transfer.runtimes import RUNTIMES, Runtime, get_runtime, runtime_of_path

ExportFormat = Runtime  # an export format is a runtime that can be built
FORMATS: dict[str, Runtime] = {name: r for name, r in RUNTIMES.items() if r.builds}

__all__ = ["PRECISIONS", "FORMATS", "ExportFormat", "get_format", "precision_of", "format_of_path"]


def get_format(name: str) -> Runtime:
    return get_runtime(name, export=True)


def precision_of(half: bool = False, int8: bool = False) -> str:
    if half and int8:
        raise UserError("--half and --int8 are exclusive: pick one precision")
    return "int8" if int8 else "fp16" if half else "fp32"


def format_of_path(path) -> str:
    """Which runtime a model file or folder is, from its name (for benchmark and parity on existing exports)."""
    return runtime_of_path(path).name
