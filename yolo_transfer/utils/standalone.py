"""Run an exported YOLO detection ONNX model with only numpy, OpenCV and onnxruntime.

This file is deliberately self-contained (no torch, no ultralytics, no other yolo_transfer module), which is why it
sits in `utils/`, the package's floor: its letterbox, pre/post-processing and NMS are the one image kernel every
backend, the parity gate and calibration share. Copy it next to your `model.onnx` and run

    python standalone.py model.onnx img1.jpg img2.jpg        # one JSON line per image

or from Python

    from standalone import OnnxDetector
    det = OnnxDetector("model.onnx")
    [(xyxy, scores, class_ids)] = det.predict([cv2.imread("img.jpg")])

Pre- and post-processing reproduce Ultralytics' predictor (LetterBox with centred padding and the same rounding,
confidence filter on the best class, class-offset NMS, boxes scaled back to the original image and clipped), so the
boxes agree with the source `.pt` when both see the same input shape. Handles the standard YOLOv8/11 head output
`(B, 4+nc, anchors)` and end-to-end / NMS-exported output `(B, N, 6)` (YOLO26, `nms=True` exports).
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

__all__ = ["letterbox", "letterbox_shape", "preprocess", "nms", "postprocess", "Meta", "OnnxDetector",
           "read_metadata", "read_windowed"]

MAX_WH = 7680  # class offset for batched NMS, as in Ultralytics: boxes of different classes never overlap


def letterbox(img_bgr: np.ndarray, new_shape: tuple[int, int] | int = (640, 640), color: int = 114,
              auto: bool = False, stride: int = 32) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Resize keeping aspect ratio and pad to `new_shape` (h, w), exactly like Ultralytics' `LetterBox`.

    Returns `(image, (gain_w, gain_h), (pad_left, pad_top))`. The gains are the per-axis ratios actually applied
    after rounding the resized size, which is what Ultralytics' `scale_boxes` undoes.
    `auto=True` pads only to the next multiple of `stride` (the `.pt` predictor's "minimum rectangle").
    """
    h0, w0 = img_bgr.shape[:2]
    (new_h, new_w), (top, bottom, left, right) = _geometry(h0, w0, new_shape, auto, stride)
    img = img_bgr
    if (w0, h0) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color,) * 3)
    return img, (new_w / w0, new_h / h0), (left, top)


def _geometry(h0: int, w0: int, new_shape: tuple[int, int] | int, auto: bool, stride: int):
    """Resized (h, w) and padding (top, bottom, left, right) of an `h0 x w0` image: the one place of the maths."""
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    r = min(new_shape[0] / h0, new_shape[1] / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = new_shape[1] - new_w, new_shape[0] - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    # The +-0.1 splits an odd padding the same way Ultralytics does (one extra pixel bottom/right).
    return (new_h, new_w), (round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1))


def letterbox_shape(h0: int, w0: int, new_shape: tuple[int, int] | int = (640, 640), auto: bool = False,
                    stride: int = 32) -> tuple[int, int]:
    """The (h, w) `letterbox` returns for an `h0 x w0` image, without touching pixels (to group images by shape)."""
    (new_h, new_w), (top, bottom, left, right) = _geometry(h0, w0, new_shape, auto, stride)
    return new_h + top + bottom, new_w + left + right


@dataclass
class Meta:
    """What postprocessing needs to map boxes back to one original image."""

    orig_shape: tuple[int, int]  # (h, w)
    ratio: tuple[float, float]  # (gain_w, gain_h)
    pad: tuple[float, float]  # (left, top)


def preprocess(images: Sequence[np.ndarray], shape: tuple[int, int] | int, auto: bool = False,
               stride: int = 32) -> tuple[np.ndarray, list[Meta]]:
    """Letterbox BGR images to one shape -> `(float32 NCHW RGB in [0,1], metas)`.

    With `auto=True` every image is padded to the same stride-multiple rectangle inside `shape` (only valid for a
    dynamic-shape model and a batch whose images share their letterboxed size).
    """
    boxes, metas = [], []
    for im in images:
        if im is None or im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"expected a BGR image (H, W, 3), got {None if im is None else im.shape}")
        lb, ratio, pad = letterbox(im, shape, auto=auto, stride=stride)
        boxes.append(lb)
        metas.append(Meta(im.shape[:2], ratio, pad))
    x = np.empty((len(boxes), 3, *boxes[0].shape[:2]), np.float32)
    for i, lb in enumerate(boxes):
        # plane by plane (BGR -> RGB) then one in-place scale: ~10x cheaper than a strided transpose + divide
        for k, channel in enumerate(cv2.split(lb)[::-1]):
            x[i, k] = channel
    x *= np.float32(1 / 255.0)
    return x, metas


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS, highest score first -> indices kept (into the inputs), in descending score order.

    Vectorised per kept box (IoU of the current best against all remaining), the same rule as torchvision's nms:
    a box is dropped when its IoU with a kept box is strictly greater than the threshold.
    """
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        tl = np.maximum(boxes[i, :2], boxes[rest, :2])
        br = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = (br - tl).clip(0).prod(1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


def _scale_back(xyxy: np.ndarray, meta: Meta) -> np.ndarray:
    xyxy = xyxy.copy()
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - meta.pad[0]) / meta.ratio[0]
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - meta.pad[1]) / meta.ratio[1]
    h, w = meta.orig_shape
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return xyxy


def postprocess(raw_output: np.ndarray, metas: Sequence[Meta], conf: float = 0.25, iou: float = 0.7,
                max_det: int = 300, agnostic: bool = False, classes: Sequence[int] | None = None,
                max_nms: int = 30000) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Raw model output -> per image `(xyxy float32 (N,4) in original pixels, scores (N,), class_ids int64 (N,))`.

    `raw_output` is `(B, 4+nc, anchors)` (xywh + class scores, needs NMS) or `(B, N, 6)` (xyxy, score, class:
    already NMS'd by an end-to-end head or an `nms=True` export). Only the first `len(metas)` rows are used, so a
    padded static batch can be passed as is.
    """
    if isinstance(raw_output, (list, tuple)):  # some runtimes return every output; detection uses the first
        raw_output = raw_output[0]
    out = np.asarray(raw_output, dtype=np.float32)
    cls_filter = None if classes is None else np.asarray(list(classes), np.int64)
    results = []
    end2end = out.ndim == 3 and out.shape[-1] == 6 and out.shape[1] != 6
    for b, meta in enumerate(metas):
        if end2end:
            pred = out[b]
            keep = pred[:, 4] > conf
            if cls_filter is not None:
                keep &= np.isin(pred[:, 5].astype(np.int64), cls_filter)
            pred = pred[keep][:max_det]
            xyxy, scores, cids = pred[:, :4], pred[:, 4], pred[:, 5].astype(np.int64)
        else:
            pred = out[b].T  # (anchors, 4+nc)
            cls_scores = pred[:, 4:]
            cids = cls_scores.argmax(1)
            scores = cls_scores[np.arange(len(pred)), cids]
            keep = scores > conf
            if cls_filter is not None:
                keep &= np.isin(cids, cls_filter)
            pred, scores, cids = pred[keep], scores[keep], cids[keep].astype(np.int64)
            if len(pred) > max_nms:
                top = np.argsort(-scores, kind="stable")[:max_nms]
                pred, scores, cids = pred[top], scores[top], cids[top]
            cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2] / 2, pred[:, 3] / 2
            xyxy = np.stack([cx - w, cy - h, cx + w, cy + h], 1)
            offset = 0 if agnostic else cids[:, None].astype(np.float32) * MAX_WH
            k = nms(xyxy + offset, scores, iou)[:max_det]
            xyxy, scores, cids = xyxy[k], scores[k], cids[k]
        results.append((_scale_back(xyxy, meta).astype(np.float32), scores.astype(np.float32), cids))
    return results


# Ultralytics writes these metadata values with `str()` of a Python object; everything else stays a plain string.
_LITERAL_KEYS = {"stride", "batch", "imgsz", "names", "args", "channels", "end2end", "kpt_shape", "pixel_window"}


def _parse(key: str, value: str):
    if key not in _LITERAL_KEYS:
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def read_windowed(path: str, window: dict | None) -> np.ndarray | None:
    """An image as the model was trained to see it: 8-bit as `cv2.imread`; above 8 bits through the model's
    intensity window (`pixel_window` in its metadata: 256 equal bins over [low, high]; without one, the image's own
    range rounded up to 8/10/12/14/16 bits), as yolo-transfer's reader maps it."""
    img = cv2.imread(path, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None or img.dtype == np.uint8:
        return cv2.imread(path)
    if not isinstance(window, dict):
        top = float(img.max())
        window = {"low": 0.0, "high": float(2 ** next((b for b in (8, 10, 12, 14, 16) if top < 2 ** b), 16) - 1)}
    low, high = float(window["low"]), float(window["high"])
    out = (img.astype(np.float32) - np.float32(low)) * np.float32(256.0 / (high - low + 1))
    img = np.clip(out, 0, 255, out=out).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img


def read_metadata(session: ort.InferenceSession) -> dict:
    """The ONNX custom metadata (Ultralytics' keys plus ours: preset, source_sha256, ...), literals parsed."""
    props = session.get_modelmeta().custom_metadata_map
    return {k: _parse(k, v) for k, v in props.items()}


class OnnxDetector:
    """A YOLO detection ONNX model with Ultralytics-equivalent pre/post-processing.

    Reads `names`, `imgsz`, `stride` and batch/dynamic from the model's metadata and input shape. A static model
    is fed exactly its input shape (batch padded on the last chunk); a dynamic model gets the square `imgsz` too
    unless `rect=True`, which letterboxes each image to its minimum stride-multiple rectangle (the `.pt`
    predictor's behaviour) and runs images one at a time.
    """

    def __init__(self, path: str, providers: Sequence[str] | None = None, rect: bool = False,
                 session_options: ort.SessionOptions | None = None):
        import onnxruntime as ort  # here, not at the top: the letterbox and NMS above serve every backend

        self.path = str(path)
        available = ort.get_available_providers()
        providers = list(providers) if providers else [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                                                       if p in available]
        self.session = ort.InferenceSession(self.path, session_options, providers=providers)
        self.metadata = read_metadata(self.session)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = tuple(inp.shape)  # e.g. (1, 3, 640, 640) or ('batch', 3, 'height', 'width')
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        self.dynamic = not all(isinstance(d, int) for d in self.input_shape[2:])
        self.static_batch = self.input_shape[0] if isinstance(self.input_shape[0], int) else None
        imgsz = self.metadata.get("imgsz")
        if imgsz is None:
            imgsz = list(self.input_shape[2:]) if not self.dynamic else [640, 640]
        if isinstance(imgsz, int):
            imgsz = [imgsz, imgsz]
        self.imgsz = (int(imgsz[0]), int(imgsz[1]))
        self.stride = int(self.metadata.get("stride", 32))
        names = self.metadata.get("names") or {}
        self.names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        self.rect = bool(rect) and self.dynamic

    def __repr__(self) -> str:
        return f"OnnxDetector({self.path!r}, imgsz={self.imgsz}, input_shape={self.input_shape}, rect={self.rect})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: x.astype(self.input_dtype, copy=False)})[0]
        return out.astype(np.float32, copy=False)

    def predict(self, images: Sequence[np.ndarray], conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                agnostic: bool = False, classes: Sequence[int] | None = None,
                batch: int | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """BGR images -> per image `(xyxy, scores, class_ids)` in original pixel coordinates."""
        images = list(images)
        # rect: each image gets its own rectangle
        chunk = 1 if self.rect else self.static_batch if self.static_batch is not None else max(1, int(batch or 8))
        results = []
        for start in range(0, len(images), chunk):
            part = images[start:start + chunk]
            x, metas = preprocess(part, self.imgsz, auto=self.rect, stride=self.stride)
            if self.static_batch is not None and len(part) < self.static_batch:  # pad the last static batch
                x = np.concatenate([x, np.zeros((self.static_batch - len(part), *x.shape[1:]), x.dtype)])
            results += postprocess(self._run(x), metas, conf=conf, iou=iou, max_det=max_det, agnostic=agnostic,
                                   classes=classes)
        return results


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Run a YOLO detection ONNX model: one JSON line per image.")
    p.add_argument("model")
    p.add_argument("images", nargs="+")
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.7)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--rect", action="store_true", help="minimum-rectangle letterbox (dynamic models only)")
    a = p.parse_args(argv)
    det = OnnxDetector(a.model, rect=a.rect)
    for path in a.images:
        img = read_windowed(path, det.metadata.get("pixel_window"))
        if img is None:
            print(f"Error: cannot read image {path}", file=sys.stderr)
            return 2
        xyxy, scores, cids = det.predict([img], conf=a.conf, iou=a.iou, max_det=a.max_det)[0]
        dets = [{"class_id": int(c), "class_name": det.names.get(int(c), str(int(c))), "confidence": round(float(s), 5),
                 "xyxy": [round(float(v), 2) for v in box]} for box, s, c in zip(xyxy, scores, cids)]
        print(json.dumps({"image": path, "detections": dets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
