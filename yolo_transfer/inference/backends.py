"""Inference backends: a model file -> raw predictions for fixed-shape batches.

Every backend does only the model call; pre- and post-processing are shared (`utils.standalone`: letterbox, NMS,
scaling back), so the runtimes of one model differ only by their numerics. Add one with `@register`. `onnx` runs
ONNX Runtime through the standalone `OnnxDetector` (no torch import, so Ray actors start light); `pt`, `openvino`
and `engine` run Ultralytics' `AutoBackend` (a `.pt` loads restricted: `yolo_transfer.safeload`).

What each runtime is comes from `yolo_transfer.runtimes`. Every backend runs at the precision its model claims,
whatever the hardware would pick: `.pt` at FP32 unless `precision="fp16"` (TF32 off on CUDA), ONNX Runtime on
explicitly chosen providers, OpenVINO with INFERENCE_PRECISION_HINT f32/f16 (bf16 only with `precision="bf16"`).
"""

from __future__ import annotations

import os
import queue
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

import yolo_transfer.heads as heads
import yolo_transfer.windows as windows
from yolo_transfer.errors import UserError
from yolo_transfer.runtimes import RUNTIMES, Runtime, runtime_of_path
from yolo_transfer.utils.env import usable_cores

BACKENDS: dict[str, type[Backend]] = {}

DEFAULT_BATCH = 8  # images per call where no measurement says otherwise (GPUs, OpenVINO, the .pt)


def register(cls: type[Backend]) -> type[Backend]:
    BACKENDS[cls.name] = cls
    return cls


def _square(imgsz) -> tuple[int, int]:
    if isinstance(imgsz, (list, tuple)):
        return (int(imgsz[0]), int(imgsz[-1]))
    return (int(imgsz), int(imgsz))


def is_cuda(device: str | None) -> bool:
    d = (device or "").lower()
    return d not in ("", "cpu") and (d.startswith("cuda") or d.replace(",", "").isdigit())


class Backend(ABC):
    """A loaded model. `imgsz` (h, w) and `batch` are the input shape every call gets; with `fixed_batch` the last
    partial batch is zero-padded to `batch` (static ONNX/TensorRT inputs), otherwise it is passed as is."""

    name: ClassVar[str]
    names: dict[int, str]
    imgsz: tuple[int, int]
    batch: int
    fixed_batch: bool = False
    device: str = "cpu"
    streams: int = 1  # batches the backend can run at once (its `infer` is then called from several threads)
    precision: str = "fp32"  # what the runtime really computes at (read back where the runtime can tell)
    # issue 14: a dynamic-shape model takes any stride-multiple (h, w) <= imgsz, so the pipeline can letterbox each
    # image to its minimum rectangle (as the .pt predictor does) instead of the full square.
    dynamic_shape: bool = False
    stride: int = 32
    head: str = heads.ONE2MANY  # the detection head it runs (`yolo_transfer.heads`): a `.pt` chooses, an export has one
    window = None  # the intensity window the model was trained with (`yolo_transfer.windows`), None for 8-bit data

    @classmethod
    def runtime(cls) -> Runtime:
        return RUNTIMES[cls.name]

    @abstractmethod
    def infer(self, x: np.ndarray) -> np.ndarray:
        """`x`: float32 NCHW RGB in [0, 1] of shape `(n, 3, *imgsz)` -> raw output as float32 numpy."""

    def warmup(self) -> None:
        """One zero batch: first-call allocations and kernel selection happen before the clock starts."""
        self.infer(np.zeros((self.batch, 3, *self.imgsz), np.float32))

    def describe(self) -> dict:
        return {"backend": self.name, "imgsz": list(self.imgsz), "batch": self.batch, "device": self.device,
                "fixed_batch": self.fixed_batch, "precision": self.precision, "head": self.head,
                "window": None if self.window is None else self.window.to_dict()}


def _export_head(path: Path, end2end: bool | None) -> str:
    """An export's head is fixed when it is built: `end2end` may only confirm it."""
    got = heads.of_export(path)
    if end2end is not None and (got == heads.END2END) != bool(end2end):
        asked = heads.END2END if end2end else heads.ONE2MANY
        raise UserError(f"{path} was exported with the {heads.TITLES[got]}; "
                        + ("re-export it with --end2end, or predict without --end2end" if end2end else
                           "predict it without --no-end2end, or re-export it without --end2end")
                        + f" (asked: {heads.TITLES[asked]})")
    return got


def _check_imgsz(requested, model_imgsz: tuple[int, int], dynamic: bool, path: Path) -> tuple[int, int]:
    if requested is None:
        return model_imgsz
    req = _square(requested)
    if not dynamic and req != model_imgsz:
        raise UserError(f"{path} has a fixed input of {model_imgsz[0]}x{model_imgsz[1]}; drop --imgsz {requested} or "
                        f"re-export with that size (or dynamic=True)")
    return req


@register
class OnnxBackend(Backend):
    name = "onnx"

    def __init__(self, path: Path, imgsz=None, batch: int | None = None, device: str | None = None,
                 precision: str | None = None, end2end: bool | None = None):
        self.runtime().check_installed()
        import onnxruntime as ort

        from yolo_transfer.utils.standalone import OnnxDetector

        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        if is_cuda(device) and not has_cuda:
            raise UserError(f"--device {device}: this onnxruntime has no CUDA provider; pip install "
                            f"onnxruntime-gpu or use --device cpu")
        if is_cuda(device) or (device is None and has_cuda):
            # Named, not ORT's default list: that would put TensorRT's provider first where installed (own
            # precision); TF32 off: an FP32 model computes at FP32 on Ampere and newer too
            dev_id = device.split(":")[-1].split(",")[0] if device else "0"
            providers = [("CUDAExecutionProvider", {"device_id": int(dev_id), "use_tf32": 0}), "CPUExecutionProvider"]
            self.device = f"cuda:{dev_id}"
        else:
            providers = ["CPUExecutionProvider"]
            self.device = "cpu"
        cores = usable_cores()
        opts = None
        streams = int(os.environ.get("YOLO_TRANSFER_ORT_STREAMS", "1"))
        if self.device == "cpu" and cores >= 2 and streams > 1:
            # Opt-in throughput mode: several sessions with a share of the cores each, fed batches at once. Off by
            # default since issue 14: on 2 cores it gained a few % but each session holds its own weights and
            # activation arena, which doubled peak RSS (see bench/predict_speed.py --sweep).
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, cores // streams)
            providers = ["CPUExecutionProvider"]
            self.streams = streams
        try:
            self.detector = OnnxDetector(str(path), providers=providers, session_options=opts)
        except Exception as e:  # onnxruntime raises its own types for corrupt or non-ONNX files
            raise UserError(f"{path}: cannot load as an ONNX model ({type(e).__name__}: {str(e)[:200]})") from None
        det = self.detector
        if self.streams > 1:
            self._free: queue.Queue = queue.Queue()
            self._free.put(det.session)
            for _ in range(self.streams - 1):
                self._free.put(ort.InferenceSession(str(path), opts, providers=providers))
        self.dynamic_shape, self.stride = bool(det.dynamic), int(det.stride)
        self.names = det.names or {}
        self.head = _export_head(path, end2end)
        self.window = windows.of_export(path)
        from yolo_transfer.runtimes import built_precision

        # ONNX Runtime runs the graph at the types it stores (our providers add no TF32/FP16 of their own)
        self.precision = "fp16" if det.input_dtype == np.float16 else built_precision(path)
        if precision is not None and precision != self.precision:
            raise UserError(f"{path}: an {self.precision.upper()} ONNX model runs at {self.precision.upper()} in "
                            f"ONNX Runtime; export it at {precision.upper()} instead")
        self.imgsz = _check_imgsz(imgsz, det.imgsz, det.dynamic, path)
        self.fixed_batch = det.static_batch is not None
        if batch is None:
            # CPU: batch 1 ran as fast as 8 at under a third of its peak RSS (ORT's arena keeps every (batch, h, w)
            # high-water mark; issue 14: coco128 at 640 on 2 cores)
            batch = 1 if self.device == "cpu" else DEFAULT_BATCH
        self.batch = det.static_batch if self.fixed_batch else max(1, int(batch))

    def infer(self, x: np.ndarray) -> np.ndarray:
        det = self.detector
        session = self._free.get() if self.streams > 1 else det.session
        try:
            out = session.run(None, {det.input_name: x.astype(det.input_dtype, copy=False)})[0]
        finally:
            if self.streams > 1:
                self._free.put(session)
        return out.astype(np.float32, copy=False)


class _UltralyticsBackend(Backend):
    """Formats Ultralytics' `AutoBackend` loads and calls; we keep our own batching and post-processing."""

    def __init__(self, path: Path, imgsz=None, batch: int | None = None, device: str | None = None,
                 precision: str | None = None, end2end: bool | None = None):
        runtime = self.runtime()
        runtime.check_installed(f"{path}: the {self.name} backend")
        import torch
        from ultralytics.nn.autobackend import AutoBackend
        from ultralytics.utils.torch_utils import select_device

        from yolo_transfer.runtimes import built_precision, pinning, ran_at

        try:
            dev = select_device(device or ("0" if torch.cuda.is_available() else "cpu"), verbose=False)
        except Exception as e:  # Ultralytics raises ValueError with a multi-line help text
            raise UserError(f"--device {device}: {str(e).splitlines()[0]}") from None
        half = False
        kwargs = {}
        if self.name == "pt":
            # FP32 unless asked: a CUDA default of FP16 would give other boxes than the same model on a CPU
            half = precision == "fp16"
            if dev.type == "cuda" and not half:
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
            # the head as Ultralytics' predictor chooses it (one-to-many unless nms=False), not as the checkpoint
            # happened to be saved: the `.pt` and its default export then give the same boxes
            kwargs["end2end"] = bool(end2end)
        else:
            self.head = _export_head(path, end2end)
        run_at = runtime.run_precision(built_precision(path), precision)
        try:
            with pinning(runtime, run_at):
                self.model = AutoBackend(str(path), device=dev, fp16=half, fuse=True, verbose=False, **kwargs)
        except (ImportError, ModuleNotFoundError) as e:
            raise UserError(f"{path}: cannot load the {self.name} model: {e}") from None
        if self.name == "pt":
            if end2end and not getattr(self.model, "end2end", False):
                raise UserError(f"{path}: --end2end runs YOLO26's NMS-free head, and this model has none (a classic "
                                f"one-to-many head); drop --end2end")
            self.head = heads.END2END if end2end else heads.ONE2MANY
        self.window = windows.of_model(self.model.model) if self.name == "pt" else windows.of_export(path)
        self.torch_device = dev
        self.device = str(dev)
        self.half = bool(self.model.fp16)
        self.precision = ran_at(self.model, fallback="fp32", built=built_precision(path))
        self.names = {int(k): str(v) for k, v in dict(self.model.names).items()}
        meta = getattr(self.model, "metadata", None) or {}
        model_imgsz = meta.get("imgsz") or (getattr(self.model.model, "args", None) or {}).get("imgsz") or 640
        dynamic = self.name == "pt" or bool(getattr(self.model, "dynamic", False))
        self.imgsz = _check_imgsz(imgsz, _square(model_imgsz), dynamic, path)
        self.fixed_batch = self.name != "pt" and not dynamic
        self.dynamic_shape = dynamic
        self.stride = int(getattr(self.model, "stride", 32) or 32)
        self.batch = int(getattr(self.model, "batch", 1) or 1) if self.fixed_batch else max(1, int(batch or DEFAULT_BATCH))
        self.model.eval()

    def infer(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.torch_device, non_blocking=True)
            y = self.model(t.half() if self.half else t)
        if isinstance(y, (list, tuple)):
            y = y[0]
        if isinstance(y, torch.Tensor):
            y = y.float().cpu().numpy()
        return np.asarray(y, np.float32)


@register
class TorchBackend(_UltralyticsBackend):
    name = "pt"


@register
class OpenVinoBackend(_UltralyticsBackend):
    name = "openvino"


@register
class TensorRtBackend(_UltralyticsBackend):
    name = "engine"


def backend_name_for(path: Path) -> str:
    try:
        name = runtime_of_path(path).name
    except UserError:
        name = None
    if name not in BACKENDS:
        kinds = ", ".join(f"{n} ({RUNTIMES[n].suffix})" for n in BACKENDS)
        raise UserError(f"WEIGHTS {path}: unknown model format; expected one of {kinds}")
    return name


def load_backend(weights: str | os.PathLike, backend: str | None = None, imgsz=None, batch: int | None = None,
                 device: str | None = None, precision: str | None = None, end2end: bool | None = None) -> Backend:
    """Load `weights` for inference. `precision=None` runs it at the precision it was built at; "bf16" (OpenVINO on
    CPUs with bf16) or "fp16" is an explicit choice. `batch=None`: the backend's measured default (ONNX Runtime
    on CPU: 1, otherwise DEFAULT_BATCH). `end2end`: a `.pt` runs YOLO26's NMS-free head when True, the one-to-many
    head otherwise (Ultralytics' default); an export runs the head it was built with (True/False must match it)."""
    path = Path(weights)
    if not path.exists():
        kinds = ", ".join(RUNTIMES[n].suffix + (" folder" if RUNTIMES[n].is_dir else "") for n in BACKENDS)
        raise UserError(f"WEIGHTS {path} does not exist; give a model path ({kinds})")
    name = backend or backend_name_for(path)
    if name not in BACKENDS:
        raise UserError(f"--backend {name}: unknown; choose one of {', '.join(BACKENDS)}")
    path = RUNTIMES[name].model_path(path)  # e.g. OpenVINO loads by its folder (Ultralytics reads metadata.yaml)
    factory: Callable[..., Backend] = BACKENDS[name]
    return factory(path, imgsz=imgsz, batch=batch, device=device, precision=precision, end2end=end2end)
