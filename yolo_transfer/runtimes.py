"""One table of the runtimes we build for and run on: `.pt` (torch), ONNX Runtime, OpenVINO and TensorRT.

Export, the parity gate, `predict` and `benchmark` all read this table: what a format's file is called, which
precisions it can build and run at, what to install, its default input shapes, the gate's thresholds per precision,
and how to make the runtime run at the precision the export claims. Light imports only (the CLI's `--help` reads it).

Precision is explicit. Some runtimes pick a lower precision by themselves on some hardware: OpenVINO compiles an FP32
IR at bf16 on CPUs with AVX512-bf16/AMX, torch runs CUDA models at FP16 if asked. We always pin it: FP32 exports run
at FP32 (OpenVINO `INFERENCE_PRECISION_HINT=f32`), FP16 at FP16, and bf16 only when the user asks for it.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from yolo_transfer.errors import UserError

BUILD_PRECISIONS = ("fp32", "fp16", "int8")  # what an export can be
RUN_PRECISIONS = ("fp32", "fp16", "bf16")  # what a runtime can be told to compute at (int8 IRs keep int8 ops)


@dataclass(frozen=True)
class Thresholds:
    """What the parity gate allows between the `.pt` and the export, at one precision."""

    min_iou: float  # every matched box above conf overlaps its twin at least this much
    max_score_error: float  # |score_ref - score_exported| of every matched box above conf
    max_mean_score_error: float  # ... and on average over them
    max_unmatched_fraction: float  # of the boxes above conf (either side) that find no twin
    max_map_diff: float  # |mAP50-95 ref - exported|, in points (0-100), only with a dataset


# Keyed by the precision the exported model RUNS at: an FP32 IR run at bf16 fails the FP32 gate, so it is judged as
# bf16, with FP16-like box limits and a little more room on scores (docs/evidence/export.md#openvino-bf16).
THRESHOLDS: dict[str, Thresholds] = {
    "fp32": Thresholds(min_iou=0.95, max_score_error=0.01, max_mean_score_error=0.002, max_unmatched_fraction=0.0,
                       max_map_diff=0.5),
    "fp16": Thresholds(min_iou=0.90, max_score_error=0.02, max_mean_score_error=0.005, max_unmatched_fraction=0.02,
                       max_map_diff=1.0),
    "bf16": Thresholds(min_iou=0.90, max_score_error=0.03, max_mean_score_error=0.008, max_unmatched_fraction=0.03,
                       max_map_diff=1.0),
    "int8": Thresholds(min_iou=0.50, max_score_error=0.30, max_mean_score_error=0.10, max_unmatched_fraction=0.25,
                       max_map_diff=3.0),
}

# Raw head outputs of identical tensors (max |box px error|, max |score error|); None: reported, not gated. Only FP32
# is gated: FP16/BF16 rounding grows with the coordinate scale (at 640 px, FP16: 2.0 px on yolov8s-fall, 6.2 px on
# yolo26n, while every matched box kept IoU >= 0.987), so at reduced precision the boxes decide.
RAW_THRESHOLDS: dict[str, tuple[float, float] | None] = {"fp32": (0.1, 1e-3), "fp16": None, "bf16": None,
                                                         "int8": None}


def _need_module(module: str, install: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{why} needs the Python package '{module}', which is not installed: run `{install}`")


def _need_cuda(title: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError(f"{title} needs an NVIDIA GPU with CUDA, and none is visible here: "
                        f"run it on a GPU machine, or use --format onnx / openvino for CPU deployment")


@dataclass(frozen=True)
class Runtime:
    name: str  # our name (CLI --format / --backend); also Ultralytics' `format=`
    title: str
    suffix: str  # how Ultralytics names the export of `best.pt`: `best{suffix}`
    is_dir: bool = False  # the export is a folder (OpenVINO: xml + bin + metadata.yaml)
    builds: tuple[str, ...] = ()  # precisions `export` can build for it (empty: not an export target)
    runs_at: tuple[str, ...] = ("fp32",)  # precisions we can make it compute at
    modules: tuple[tuple[str, str], ...] = ()  # (python module, install command) to run its models
    build_modules: dict | None = None  # extra modules to export, per precision ("all": any precision)
    needs_cuda: bool = False
    default_dynamic: bool = True
    export_device: str = "cpu"  # what Ultralytics exports on
    aliases: tuple[str, ...] = ()

    # -- files
    def accepts(self, path: str | os.PathLike) -> bool:
        p = Path(path)
        if self.is_dir:
            return p.name.endswith(self.suffix) or (p.suffix == ".xml" and p.parent.name.endswith(self.suffix))
        return p.suffix.lower() == self.suffix

    def model_path(self, path: str | os.PathLike) -> Path:
        """The path Ultralytics loads: OpenVINO by its folder (it reads metadata.yaml there), others as given."""
        p = Path(path)
        return p.parent if self.is_dir and p.suffix == ".xml" else p

    # -- requirements: one line each, before any work
    def check_installed(self, why: str | None = None) -> None:
        for module, install in self.modules:
            _need_module(module, install, why or f"the {self.title} runtime")

    def requirements(self, precision: str) -> None:
        """Raise UserError when this machine cannot build `precision` for this runtime."""
        if precision not in self.builds:
            can = ", ".join(p.upper() for p in self.builds) or "nothing (not an export format)"
            raise UserError(f"--format {self.name} cannot build {precision.upper()}; it supports {can}")
        if self.needs_cuda:
            _need_cuda(f"{self.title} export (--format {self.name})")
        self.check_installed(f"{self.title} export")
        extra = self.build_modules or {}
        for module, install in (*extra.get("all", ()), *extra.get(precision, ())):
            _need_module(module, install, f"{self.title} {precision.upper()} export")

    # -- precision at run time
    def run_precision(self, build: str, requested: str | None = None) -> str:
        """The precision a model built at `build` runs at: what it claims, unless the user explicitly asked for
        another one this runtime supports."""
        if requested is None:
            return build  # an INT8 model keeps its int8 ops and runs the rest at FP32
        requested = requested.lower()
        if requested not in self.runs_at:
            raise UserError(f"{self.title} cannot run at {requested.upper()} here; choose one of "
                            f"{', '.join(p.upper() for p in self.runs_at)}")
        return requested


_OV_HINT = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}  # int8: the non-quantized ops
_OV_BACK = {"f32": "fp32", "float32": "fp32", "f16": "fp16", "float16": "fp16", "bf16": "bf16", "bfloat16": "bf16"}


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("pt", "PyTorch", ".pt", runs_at=("fp32", "fp16"), modules=(("torch", "pip install torch"),)),
        # Dynamic shapes by default for ONNX and OpenVINO: the export then letterboxes each image to its minimum
        # stride-multiple rectangle exactly like the `.pt` predictor, so it gives the boxes users see from the `.pt`.
        Runtime("onnx", "ONNX", ".onnx", builds=BUILD_PRECISIONS, runs_at=("fp32", "fp16"),
                modules=(("onnxruntime", "pip install onnxruntime"),),
                build_modules={"all": (("onnx", "pip install onnx"),)}),
        Runtime("openvino", "OpenVINO", "_openvino_model", is_dir=True, builds=BUILD_PRECISIONS,
                runs_at=("fp32", "fp16", "bf16"),
                modules=(("openvino", "pip install 'yolo-transfer[openvino]'"),),
                build_modules={"int8": (("nncf", "pip install nncf"),)}, aliases=("ov",)),
        # TensorRT defaults to a static engine: it optimises for one shape, and the gate runs the `.pt` at that shape.
        Runtime("engine", "TensorRT", ".engine", builds=BUILD_PRECISIONS, runs_at=("fp32", "fp16"),
                modules=(("tensorrt", "pip install 'yolo-transfer[tensorrt]'"),), needs_cuda=True,
                default_dynamic=False, export_device="0", aliases=("tensorrt", "trt")),
    )
}
EXPORT_NAMES = tuple(n for n, r in RUNTIMES.items() if r.builds)


def get_runtime(name: str, export: bool = False) -> Runtime:
    key = str(name).lower().strip()
    for r in RUNTIMES.values():
        if key == r.name or key in r.aliases:
            if export and not r.builds:
                break
            return r
    names = EXPORT_NAMES if export else tuple(RUNTIMES)
    raise UserError(f"unknown {'export format' if export else 'runtime'} '{name}': choose one of {', '.join(names)}")


def runtime_of_path(path: str | os.PathLike) -> Runtime:
    """Which runtime a model file or folder is for, from its name."""
    for r in RUNTIMES.values():
        if r.accepts(path):
            return r
    kinds = ", ".join(f"{r.suffix}" + (" folder" if r.is_dir else "") for r in RUNTIMES.values())
    raise UserError(f"{path}: not a model this tool can run (expected one of: {kinds})")


def built_precision(path: str | os.PathLike) -> str:
    """The precision an export was built at, from the metadata Ultralytics stores with it (fp32 when unknown)."""
    p = Path(path)
    meta = p / "metadata.yaml" if p.is_dir() else p.parent / "metadata.yaml" if p.suffix == ".xml" else None
    if meta is not None and meta.is_file():
        import yaml

        args = (yaml.safe_load(meta.read_text()) or {}).get("args") or {}
        q = args.get("quantize")
        return "int8" if args.get("int8") or q == 8 else "fp16" if args.get("half") or q == 16 else "fp32"
    if p.suffix == ".onnx" and p.is_file():
        try:
            import onnx

            m = onnx.load(str(p), load_external_data=False)
            kinds = [t.data_type for t in m.graph.initializer]
            if kinds.count(onnx.TensorProto.FLOAT16) > kinds.count(onnx.TensorProto.FLOAT):
                return "fp16"  # FP16 weights (Ultralytics keeps the FP32 input and casts it inside the graph)
            if any(n.op_type in ("QuantizeLinear", "QLinearConv", "DynamicQuantizeLinear") for n in m.graph.node):
                return "int8"
        except Exception:  # noqa: BLE001 - unreadable here: the loader will say why
            pass
    return "fp32"


# ------------------------------------------------------------------------------------------------ OpenVINO precision


def openvino_hint(precision: str) -> str:
    return _OV_HINT[precision]


def openvino_precision_name(value) -> str:
    """`compiled.get_property('INFERENCE_PRECISION_HINT')` (an ov.Type) -> 'fp32' / 'fp16' / 'bf16'."""
    s = str(getattr(value, "to_string", lambda: value)() if not isinstance(value, str) else value)
    s = s.replace("<Type: '", "").replace("'>", "").strip().lower()
    return _OV_BACK.get(s, s)


def openvino_cpu_default() -> str:
    """The precision OpenVINO picks for an FP32 model on this CPU when nobody pins it (what Ultralytics' own runner
    gets): 'bf16' on CPUs with AVX512-bf16/AMX, else 'fp32'.

    `YOLO_TRANSFER_OPENVINO_DEFAULT=bf16|fp32` pretends another CPU (CI runs the suite both ways)."""
    forced = os.environ.get("YOLO_TRANSFER_OPENVINO_DEFAULT", "").strip().lower()
    if forced:
        return _OV_BACK.get(forced, forced)
    import openvino as ov

    return openvino_precision_name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


def compiled_precision(compiled) -> str:
    """What a compiled OpenVINO model really computes at (the CPU plugin drops a bf16 hint it cannot honour)."""
    try:
        return openvino_precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except Exception:  # noqa: BLE001 - devices without the property (e.g. NPU) compute at their own precision
        return "unknown"


def _pinned_backend_class(precision: str):
    """A subclass of Ultralytics' OpenVINO backend that compiles the IR with our INFERENCE_PRECISION_HINT.

    Registered in `AutoBackend._BACKEND_MAP` (Ultralytics' own table of backends) inside `pinned_openvino`, so
    `YOLO(...).predict/val` on an OpenVINO folder runs at the precision we pin, with no fork of Ultralytics."""

    from ultralytics.nn.backends import OpenVINOBackend

    class PinnedOpenVINOBackend(OpenVINOBackend):
        def load_model(self, weight) -> None:
            import openvino as ov

            hint = openvino_hint(precision)
            core_cls = ov.Core

            class PinnedCore(core_cls):
                # Ultralytics builds its Core inside load_model and compiles through it (and recompiles per shape
                # for INT8 on AMX CPUs): every compile it makes gets the hint, once, with its own device and
                # config (NPU reshape, LATENCY hint) untouched
                def compile_model(self, *args, **kwargs):
                    kwargs["config"] = {**(kwargs.get("config") or {}), "INFERENCE_PRECISION_HINT": hint}
                    return super().compile_model(*args, **kwargs)

            ov.Core = PinnedCore
            try:
                super().load_model(weight)
            finally:
                ov.Core = core_cls

    return PinnedOpenVINOBackend


@contextmanager
def pinned_openvino(precision: str) -> Iterator[None]:
    """Context manager: every OpenVINO model Ultralytics loads inside it is compiled at `precision`.

    >>> with pinned_openvino("fp32"):
    ...     YOLO("best_openvino_model").predict(...)
    """
    from ultralytics.nn.autobackend import AutoBackend

    backends = AutoBackend._BACKEND_MAP
    old = backends.get("openvino")
    backends["openvino"] = _pinned_backend_class(precision)
    try:
        yield
    finally:
        backends["openvino"] = old


def ran_at(autobackend, fallback: str = "fp32", built: str | None = None) -> str:
    """The precision an Ultralytics AutoBackend really computes at: read back from OpenVINO, FP16 flag otherwise.
    An INT8 model (`built="int8"`) keeps its int8 ops and runs the rest at what is read back: "int8", or e.g.
    "int8+bf16" where the non-quantised ops ran lower."""
    compiled = getattr(autobackend, "ov_compiled_model", None)
    if compiled is not None:
        ran = compiled_precision(compiled)
    elif getattr(autobackend, "fp16", False):
        ran = "fp16"
    else:
        ran = fallback
    if built == "int8":
        return "int8" if ran in ("fp32", "int8") else f"int8+{ran}"
    return ran


def pinning(runtime: Runtime, precision: str) -> AbstractContextManager:
    """A context manager that makes Ultralytics run `runtime` at `precision` (a no-op where nothing picks one)."""
    return pinned_openvino(precision) if runtime.name == "openvino" else nullcontext()
