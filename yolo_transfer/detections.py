"""`Detections`: the one small data type every backend produces and every writer consumes.

Boxes are absolute pixel `xyxy` in the original image, float32; `confidence` float32; `class_id` int64. Backends
adapt their raw output into this; writers (JSONL, CSV, COCO, images) and comparisons (export parity, backend
agreement) read only this. No torch import here, so the standalone ONNX path can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass
class Detections:
    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_id: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(f"Detections: {n} boxes but {len(self.confidence)} scores and {len(self.class_id)} ids")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> "Detections":
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    @classmethod
    def merge(cls, parts: Sequence["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls()
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.confidence for p in parts]),
                   np.concatenate([p.class_id for p in parts]))

    @classmethod
    def from_ultralytics(cls, result: Any) -> "Detections":
        """Adapter for an `ultralytics.engine.results.Results` (detection task)."""
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls()
        return cls(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64))

    def sorted(self) -> "Detections":
        """Highest confidence first (stable), so outputs are deterministic across backends."""
        return self[np.argsort(-self.confidence, kind="stable")]

    def to_records(self, names: Mapping[int, str] | Sequence[str] | None = None, ndigits: int = 2) -> list[dict]:
        out = []
        for box, conf, cid in zip(self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist()):
            rec = {"class_id": int(cid)}
            if names is not None:
                rec["class_name"] = _name(names, int(cid))
            out.append({**rec, "confidence": round(float(conf), 5), "xyxy": [round(float(v), ndigits) for v in box]})
        return out

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> "Detections":
        return cls([r["xyxy"] for r in records], [r["confidence"] for r in records], [r["class_id"] for r in records])


def _name(names: Mapping[int, str] | Sequence[str], cid: int) -> str:
    try:
        return str(names[cid])
    except (KeyError, IndexError):
        return str(cid)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two `(N,4)` / `(M,4)` xyxy arrays -> `(N,M)`."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(a: Detections, b: Detections, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy same-class matching, highest confidence of `a` first: `(idx_a, idx_b, ious)` of the matched pairs (the
    rest are unmatched). Export parity and backend agreement both use it: "the same boxes" means one thing."""
    if not len(a) or not len(b):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    ious = box_iou(a.xyxy, b.xyxy)
    ious[a.class_id[:, None] != b.class_id[None, :]] = 0.0
    used_b = np.zeros(len(b), bool)
    ia, ib, iv = [], [], []
    for i in np.argsort(-a.confidence, kind="stable"):
        row = np.where(used_b, -1.0, ious[i])
        j = int(row.argmax())
        if row[j] >= iou_threshold:
            used_b[j] = True
            ia.append(i)
            ib.append(j)
            iv.append(row[j])
    return np.asarray(ia, np.int64), np.asarray(ib, np.int64), np.asarray(iv, np.float32)
