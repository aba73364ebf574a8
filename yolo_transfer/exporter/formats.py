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

__all__ = ["PRECISIONS", "FORMATS", "ExportFormat", "get_format", "precision_of", "format_of_path", "QUANTIZE"]


def get_format(name: str) -> Runtime:
    return get_runtime(name, export=True)


QUANTIZE = {32: "fp32", 16: "fp16", 8: "int8"}  # Ultralytics 8.4's `quantize=` -> our precision names


def precision_of(quantize: int | str = 32) -> str:
    """`quantize=8|16|32` (Ultralytics 8.4's precision argument) -> "int8" | "fp16" | "fp32"."""
    try:
        return QUANTIZE[int(quantize)]
    except (KeyError, TypeError, ValueError):
        raise UserError(f"--quantize {quantize}: choose 32 (FP32), 16 (FP16) or 8 (INT8)") from None


def format_of_path(path) -> str:
    """Which runtime a model file or folder is, from its name (for benchmark and parity on existing exports)."""
    return runtime_of_path(path).name
