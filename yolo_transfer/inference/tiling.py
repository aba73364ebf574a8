"""`--tile`: run large images as overlapping model-sized tiles so small objects keep their pixels.

Tiles are cut at the model's input size (no downscaling) and overlap by `overlap` of a tile, so an object on a seam
is whole in at least one; a downscaled whole-image pass catches objects larger than a tile. Merging: the shared
class-aware NMS, then a box mostly inside (intersection over the smaller box > `ios`) a higher-scored box of its
class from *another* window is the same object cut by a tile edge, and is dropped. Within one window NMS alone
decides, so genuinely overlapping neighbours stay as the model reported them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from yolo_transfer.detections import Detections
from yolo_transfer.utils.standalone import MAX_WH, nms

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
    keep = nms(merged.xyxy + merged.class_id[:, None].astype(np.float32) * MAX_WH, merged.confidence, iou)
    kept, window = merged[keep], np.concatenate(window)[keep]  # highest score first
    b = kept.xyxy
    inter = (np.minimum(b[:, None, 2:], b[None, :, 2:]) - np.maximum(b[:, None, :2], b[None, :, :2])).clip(0).prod(-1)
    area = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    inside = inter / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9) > ios
    # Box j goes when a higher-scored box i (i < j) of its class, from another window, mostly covers it.
    cut = inside & (kept.class_id[:, None] == kept.class_id[None, :]) & (window[:, None] != window[None, :])
    dropped = np.triu(cut, k=1).any(0)
    return kept[~dropped][:max_det]
