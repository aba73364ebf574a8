"""Static INT8 for YOLO detection ONNX models that keeps the boxes where they were.

One INT8 scale on the Detect head's box branch (the DFL logits, the decoded 0..640 px coordinates, the final concat
with the class scores), as Ultralytics' `quantize=8` gives it, moves boxes by pixels and rounds low scores to zero
(issue 14). So here the backbone, neck and class branch run in INT8 while the box branch (`cv2.*`), the DFL, the
anchor decode, the final concat and the high-resolution stem (`stem_nodes`, where most of the error enters) stay
FP32, calibrated on the user's own images letterboxed as inference letterboxes them. YOLO26's one-to-one branches
(`one2one_cv2/3`) are found like the one-to-many ones. Recipes tried and the gate's numbers for each:
docs/evidence/export.md#int8; read the parity report of your own model and data before deploying INT8.

    from yolo_transfer.exporter.quantize import quantize_onnx
    result = quantize_onnx("best.onnx", "best_int8.onnx", calibration="data.yaml")

Uses ONNX Runtime's `quantize_static`: QDQ, per-channel S8 weights, U8 activations (the VNNI kernels of x86 CPUs).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import is_image

KEEP_CHOICES = ("box", "head", "none")  # what of the Detect head stays FP32


@dataclass
class QuantizeResult:
    path: Path
    source: Path
    calibration: str  # where the calibration images came from
    calibration_images: int
    kept_fp32: list[str] = field(default_factory=list)  # node names left in FP32
    method: str = "minmax"
    seconds: float = 0.0


def detect_head_prefix(node_names: Sequence[str]) -> str | None:
    """The name prefix of the Detect head (e.g. `/model.22/`): the module that owns the DFL or a box branch (YOLO26
    has no DFL, and its NMS-free export only the one-to-one branch `one2one_cv2`)."""
    for pattern in (r"^(.*?/model\.(\d+)/)dfl/", r"^(.*?/model\.(\d+)/)(?:one2one_)?cv2\.\d+/"):
        found = sorted({(int(m.group(2)), m.group(1)) for n in node_names if (m := re.match(pattern, n))})
        if found:
            return found[-1][1]
    return None


def stem_nodes(nodes: Sequence, max_stride: int = 4) -> list[str]:
    """Nodes of the backbone's high-resolution stem: every `/model.N/` module before the one whose Conv takes the
    feature map past `max_stride` (YOLOv8/11: modules 0-2, stride 2 and 4, end at the stride-8 Conv `model.3`).

    `nodes` are ONNX NodeProtos in graph (topological) order; the running stride multiplies the Conv strides met
    along the way, which follows the backbone chain up to there. Most of the quantisation error enters in these
    layers: docs/evidence/export.md#int8.
    """
    stride, end = 1, None
    for node in nodes:
        m = re.match(r"^.*?/model\.(\d+)/", node.name)
        if node.op_type != "Conv" or not m:
            continue
        s = next((max(a.ints) for a in node.attribute if a.name == "strides" and a.ints), 1)
        if stride * s > max_stride:
            end = int(m.group(1))
            break
        stride *= s
    if end is None:
        return []  # no downsampling past max_stride: not a YOLO backbone we know how to cut; quantise it all
    return [n.name for n in nodes if (m := re.match(r"^.*?/model\.(\d+)/", n.name)) and int(m.group(1)) < end]


def fp32_nodes(node_names: Sequence[str], keep: str = "box") -> list[str]:
    """Nodes to exclude from quantisation. `box`: the head minus its class branches (`cv3.*`, YOLO26's
    `one2one_cv3.*`); `head`: all of it. A keep-classes model's copied neck (`branch/`) is quantised like the neck."""
    if keep not in KEEP_CHOICES:
        raise UserError(f"keep={keep!r}: choose one of {', '.join(KEEP_CHOICES)}")
    if keep == "none":
        return []
    prefix = detect_head_prefix(node_names)
    if prefix is None:
        raise UserError("cannot find the Detect head in this ONNX graph (no /model.N/dfl or /model.N/cv2 nodes); "
                        "INT8 needs an Ultralytics YOLO detection export")
    cls_branches = (f"{prefix}cv3.", f"{prefix}one2one_cv3.")
    neck_copy = f"{prefix}branch/"  # a keep-classes model's copy of the neck (training.keep_head.Branch): a neck
    return [n for n in node_names if n.startswith(prefix) and not n.startswith(neck_copy)
            and (keep == "head" or not n.startswith(cls_branches))]


def calibration_images(source: str | Path, limit: int = 64, split: str = "train") -> tuple[list[Path], str]:
    """Images to calibrate on: a folder, or a data.yaml's `split` (falls back to val) — the user's own data."""
    p = Path(source)
    if not p.exists():
        raise UserError(f"calibration data {p} not found: pass a data.yaml or an image folder")
    if p.is_dir():
        from yolo_transfer.utils.walk import walk_files

        files = sorted(f for f in walk_files(p) if is_image(f))
        label = f"folder {p}"
    else:
        from yolo_transfer.exporter.parity import split_images

        files, which = split_images(p, (split, "val"))
        label = f"{which} split of {p}"
    if not files:
        raise UserError(f"no calibration images in {p}: INT8 needs a few dozen images of your own data")
    # Spread the pick over the whole list (sorted names often group by source/camera).
    step = max(1, len(files) // limit)
    files = files[::step][:limit]
    return files, f"{label} ({len(files)} images)"


class _Reader:
    """ONNX Runtime's CalibrationDataReader: one letterboxed image per call, as inference will see it."""

    def __init__(self, files: Sequence[Path], input_name: str, imgsz: tuple[int, int], rect: bool, stride: int,
                 window=None):
        self.files, self.input_name, self.imgsz, self.rect, self.stride = list(files), input_name, imgsz, rect, stride
        self.window = window  # the model's intensity window: calibrate on what inference will see
        self._it: Iterator[Path] = iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def set_range(self, start_index: int, end_index: int) -> None:
        """ONNX Runtime's strided calibration: collect (and merge ranges/histograms) a few images at a time."""
        self._it = iter(self.files[start_index:end_index])

    def get_next(self) -> dict | None:
        from yolo_transfer.utils.imageread import BadImage, read_image
        from yolo_transfer.utils.standalone import preprocess

        for path in self._it:
            try:
                img = read_image(path, self.window)
            except BadImage:
                continue  # an unreadable file is not worth failing an export over; it just doesn't calibrate
            x, _ = preprocess([img], self.imgsz, auto=self.rect, stride=self.stride)
            return {self.input_name: x}
        return None


def quantize_onnx(fp32: str | Path, out: str | Path, calibration: str | Path, *, max_images: int = 64,
                  keep: str = "box", stem_fp32: bool = True, method: str = "minmax",
                  per_channel: bool = True, window=None) -> QuantizeResult:
    """Write a static-INT8 copy of the FP32 detection model `fp32` to `out`, calibrated on `calibration` (a
    data.yaml or an image folder) read through `window` (the model's intensity window). The metadata (names, imgsz,
    stride, provenance, window) is carried over.

    `keep` is what of the Detect head stays FP32; `stem_fp32` also keeps the stride-2/4 stem (`stem_nodes`) FP32
    (False: the whole backbone in INT8, the recipe before issue 14, which fails the INT8 parity gate at 640 px)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from yolo_transfer.utils.standalone import OnnxDetector

    t0 = time.perf_counter()
    fp32, out = Path(fp32), Path(out)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise UserError(f"calibration method {method!r}: choose one of {', '.join(methods)}")
    det = OnnxDetector(str(fp32), providers=["CPUExecutionProvider"])
    files, label = calibration_images(calibration, max_images)
    model = onnx.load(str(fp32))
    names = [n.name for n in model.graph.node]
    keep_nodes = fp32_nodes(names, keep)
    if stem_fp32:
        keep_nodes = stem_nodes(model.graph.node) + keep_nodes
    reader = _Reader(files, det.input_name, det.imgsz, det.dynamic, det.stride, window)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice to the root logger; keep the console short
    try:
        quantize_static(str(fp32), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=keep_nodes, calibrate_method=methods[method],
                        # One image per collection: rect images differ in shape (the histogram methods cannot stack
                        # them) and every intermediate tensor of 64 images at 640 px does not fit in memory.
                        extra_options={"CalibStridedMinMax": 1})
    finally:
        root.setLevel(level)
    q = onnx.load(str(out))
    if {p.key for p in q.metadata_props} != {p.key for p in model.metadata_props}:
        onnx.helper.set_model_props(q, {p.key: p.value for p in model.metadata_props})
        onnx.save(q, str(out))
    return QuantizeResult(path=out, source=fp32, calibration=label, calibration_images=len(files),
                          kept_fp32=keep_nodes, method=method, seconds=round(time.perf_counter() - t0, 2))
