"""The export formats we support, as a small registry.

Each format knows the Ultralytics `format=` name, where Ultralytics puts its output, which precisions it can build,
what it needs installed, and whether it defaults to dynamic input shapes. Checks run before any work so a missing
runtime is a one-line error, not a traceback halfway through an export.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

from yolo_transfer.errors import UserError

PRECISIONS = ("fp32", "fp16", "int8")


def _need_module(module: str, install: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{why} needs the Python package '{module}', which is not installed: run `{install}`")


def _check_onnx(precision: str) -> None:
    _need_module("onnx", "pip install onnx", "ONNX export")
    _need_module("onnxruntime", "pip install onnxruntime", "ONNX export")


def _check_openvino(precision: str) -> None:
    _need_module("openvino", "pip install 'yolo-transfer[openvino]'", "OpenVINO export")
    if precision == "int8":
        _need_module("nncf", "pip install nncf", "OpenVINO INT8 export")


def _check_engine(precision: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            "TensorRT export (--format engine) needs an NVIDIA GPU with CUDA, and none is visible here: "
            "run it on a GPU machine, or export --format onnx / openvino for CPU deployment"
        )
    _need_module("tensorrt", "pip install 'yolo-transfer[tensorrt]'", "TensorRT export (--format engine)")


@dataclass(frozen=True)
class ExportFormat:
    name: str  # our CLI name
    ultralytics: str  # Ultralytics' `format=`
    title: str
    suffix: str  # how Ultralytics names the output from `best.pt`: `best{suffix}`
    precisions: tuple[str, ...]
    default_dynamic: bool
    check: Callable[[str], None]  # raises UserError when the environment cannot build `precision`
    device: str  # what Ultralytics exports on
    is_dir: bool = False

    def requirements(self, precision: str) -> None:
        if precision not in self.precisions:
            raise UserError(f"--format {self.name} cannot build {precision.upper()}; it supports "
                            f"{', '.join(p.upper() for p in self.precisions)}")
        self.check(precision)


# Dynamic shapes by default for ONNX and OpenVINO: the exported model can then letterbox each image to its minimum
# stride-multiple rectangle exactly like the `.pt` predictor does, so it gives the boxes users see from the `.pt`.
# TensorRT defaults to a static engine: it optimises for one shape, and the parity gate then runs the `.pt` at the
# same square shape (see parity.py).
FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", "onnx", "ONNX", ".onnx", PRECISIONS, True, _check_onnx, "cpu"),
        ExportFormat("openvino", "openvino", "OpenVINO", "_openvino_model", PRECISIONS, True, _check_openvino,
                     "cpu", is_dir=True),
        ExportFormat("engine", "engine", "TensorRT", ".engine", PRECISIONS, False, _check_engine, "0"),
    )
}


def get_format(name: str) -> ExportFormat:
    key = str(name).lower().strip()
    aliases = {"tensorrt": "engine", "trt": "engine", "ov": "openvino"}
    key = aliases.get(key, key)
    if key not in FORMATS:
        raise UserError(f"unknown export format '{name}': choose one of {', '.join(FORMATS)}")
    return FORMATS[key]


def precision_of(half: bool = False, int8: bool = False) -> str:
    if half and int8:
        raise UserError("--half and --int8 are exclusive: pick one precision")
    return "int8" if int8 else "fp16" if half else "fp32"


def format_of_path(path) -> str:
    """Which backend a model file or folder is, from its name (for benchmark and parity on existing exports)."""
    from pathlib import Path

    p = Path(path)
    if p.suffix == ".pt":
        return "pt"
    if p.suffix == ".onnx":
        return "onnx"
    if p.suffix == ".engine":
        return "engine"
    if p.is_dir() and p.name.endswith("openvino_model") or p.suffix == ".xml":
        return "openvino"
    raise UserError(f"{p}: not a model this tool can run (expected .pt, .onnx, .engine or a *_openvino_model folder)")
