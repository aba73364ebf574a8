"""`--tile`: run large images as overlapping model-sized tiles so small objects keep their pixels.

Each tile is cut at the model's input size (no downscaling), neighbouring tiles overlap by `overlap` of a tile so an
object on a seam is whole in at least one tile, and a downscaled pass over the whole image is added for objects
larger than a tile. Merging the windows' boxes: class-aware NMS (IoU) as everywhere else, plus one rule NMS lacks:
a box mostly inside a higher-scored box of the same class from *another* window (intersection over the smaller
box > `ios`) is the same object cut by a tile edge, and is dropped. Within one window NMS alone decides, so
genuinely overlapping neighbours are kept as the model reported them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from yolo_transfer.detections import Detections

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)  # last tile flush with the edge: every tile is full size, no padding
    return starts


def tile_windows(height: int, width: int, tile: tuple[int, int], overlap: float = 0.2) -> list[Window]:
    """Windows covering the image; empty when the image already fits the model input (no tiling needed)."""
    th, tw = tile
    if height <= th and width <= tw:
        return []
    if not 0 <= overlap < 1:
        raise ValueError(f"tile overlap must be in [0, 1), got {overlap}")
    sy, sx = max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap)))
    return [(x, y, min(x + tw, width), min(y + th, height))
            for y in _starts(height, th, sy) for x in _starts(width, tw, sx)]


def merge_windows(parts: Sequence[Detections], offsets: Sequence[tuple[int, int]], iou: float,
                  max_det: int = 300, ios: float = 0.6) -> Detections:
    """Shift each window's boxes by its `(x0, y0)` and merge the same objects seen by several windows."""
    shifted, window = [], []
    for w, (det, (x0, y0)) in enumerate(zip(parts, offsets)):
        if len(det):
            shifted.append(Detections(det.xyxy + np.array([x0, y0, x0, y0], np.float32), det.confidence,
                                      det.class_id))
            window.append(np.full(len(det), w))
    merged = Detections.merge(shifted)
    if not len(merged):
        return merged
    window = np.concatenate(window)
    b, cls = merged.xyxy, merged.class_id
    area = (b[:, 2:] - b[:, :2]).clip(0).prod(1)
    order = np.argsort(-merged.confidence, kind="stable")
    keep = []
    while order.size and len(keep) < max_det:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = (np.minimum(b[i, 2:], b[rest, 2:]) - np.maximum(b[i, :2], b[rest, :2])).clip(0).prod(1)
        same = cls[rest] == cls[i]
        over_iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9) > iou
        over_ios = (inter / np.maximum(np.minimum(area[i], area[rest]), 1e-9) > ios) & (window[rest] != window[i])
        order = rest[~(same & (over_iou | over_ios))]
    return merged[np.asarray(keep, np.int64)]
