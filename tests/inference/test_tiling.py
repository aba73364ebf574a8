"""--tile finds small objects that downscaling the whole image loses, and reports each object once."""

from __future__ import annotations

import json

import cv2
import numpy as np

from yolo_transfer.detections import Detections, box_iou
from yolo_transfer.inference.api import predict
from yolo_transfer.inference.tiling import merge_windows, tile_windows


def test_windows_cover_the_image_with_full_size_tiles():
    wins = tile_windows(1000, 1500, (256, 256), overlap=0.25)
    covered = np.zeros((1000, 1500), bool)
    for x0, y0, x1, y1 in wins:
        assert (x1 - x0, y1 - y0) == (256, 256)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert tile_windows(200, 256, (256, 256)) == []  # fits the model: no tiling


def test_merge_drops_the_same_object_cut_by_a_tile_edge():
    whole = Detections([[10, 10, 110, 210]], [0.9], [0])  # seen whole by window 0
    cut = Detections([[0, 10, 50, 210]], [0.6], [0])  # right half of it, seen by window 1 at x0=60
    other_class = Detections([[0, 10, 50, 210]], [0.5], [1])
    merged = merge_windows([whole, cut, other_class], [(0, 0), (60, 0), (60, 0)], iou=0.7)
    assert sorted(merged.class_id.tolist()) == [0, 1]
    assert merged[merged.class_id == 0].xyxy.tolist() == [[10, 10, 110, 210]]
    # Two overlapping objects reported by the same window stay two objects.
    pair = Detections([[0, 0, 100, 100], [0, 0, 60, 100]], [0.9, 0.8], [0, 0])
    assert len(merge_windows([pair], [(0, 0)], iou=0.7)) == 2


def test_tiling_finds_a_small_person_in_a_large_image(fall_onnx, coco8_yaml, tmp_path):
    person = cv2.imread(str(coco8_yaml.parent / "images" / "val" / "000000000036.jpg"))  # one person, 481x640
    small = cv2.resize(person, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    canvas = np.random.default_rng(0).integers(60, 100, (1024, 1280, 3)).astype(np.uint8)
    y0, x0 = 624, 780
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    (tmp_path / "src").mkdir()
    cv2.imwrite(str(tmp_path / "src" / "line_scan.png"), canvas)
    truth = np.array([[x0 + 121 * 0.3, y0 + 222 * 0.3, x0 + 481 * 0.3, y0 + 640 * 0.3]])  # person box, scaled

    def boxes(tile):
        out = tmp_path / f"tile-{tile}"
        predict(fall_onnx, tmp_path / "src", out, imgsz=256, conf=0.3, tile=tile)
        rec = json.loads((out / "predictions.jsonl").read_text())
        return Detections.from_records(rec["detections"])

    plain, tiled = boxes(False), boxes(True)
    assert len(plain) == 0  # 5x downscaled, the person is ~25 px: lost
    assert box_iou(tiled.xyxy, truth).max() > 0.5
    assert (tiled.xyxy[:, [0, 2]].max() <= 1280) and (tiled.xyxy[:, [1, 3]].max() <= 1024)
