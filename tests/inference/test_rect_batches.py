"""Shape buckets: dynamic models see each image at its minimum rectangle (as Ultralytics does), batched by shape,
results in source order; the boxes equal `yolo predict`'s on the same model; a broken checkpoint is one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from yolo_transfer.utils.standalone import letterbox, letterbox_shape
from yolo_transfer.inference.backends import Backend
from yolo_transfer.inference.pipeline import InferenceSettings, Predictor
from yolo_transfer.inference.sources import ImageRef


def test_letterbox_shape_is_what_letterbox_returns():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 1500, 2))
        img = np.zeros((h, w, 3), np.uint8)
        for auto in (False, True):
            assert letterbox(img, (640, 640), auto=auto)[0].shape[:2] == letterbox_shape(h, w, (640, 640), auto)


class _Recorder(Backend):
    """A dynamic-shape model that records each batch's shape and returns no boxes."""

    name = "recorder"

    def __init__(self, batch: int, dynamic: bool = True):
        self.names, self.imgsz, self.batch, self.dynamic_shape = {0: "a"}, (64, 64), batch, dynamic
        self.stride = 16
        self.calls: list[tuple[int, ...]] = []

    def infer(self, x):
        self.calls.append(x.shape)
        return np.zeros((len(x), 5, 10), np.float32)


def _refs(tmp_path, sizes):
    import cv2

    refs = []
    for i, (h, w) in enumerate(sizes):
        path = tmp_path / f"{i:03d}.png"
        cv2.imwrite(str(path), np.full((h, w, 3), i, np.uint8))
        refs.append(ImageRef(str(path), path.name))
    return refs


def test_buckets_batch_same_shapes_in_source_order_and_never_hold_output(tmp_path):
    # Two shapes interleaved plus one rare shape early on: the rare one must not wait for the end of the run.
    sizes = [(48, 64), (64, 48), (48, 64), (64, 48), (20, 64), (48, 64), (64, 48), (48, 64), (64, 48), (48, 64),
             (64, 48), (48, 64)]
    refs = _refs(tmp_path, sizes)
    model = _Recorder(batch=3)
    predictor = Predictor(model, InferenceSettings(), hold=4)
    out = list(predictor.run(predictor.prepare(r) for r in refs))
    assert [r.ref.path for r in out] == [r.path for r in refs]  # source order
    assert [r.shape for r in out] == sizes
    shapes = [c[2:] for c in model.calls]
    assert sum(c[0] for c in model.calls) == len(sizes)  # every image ran exactly once
    assert set(shapes) == {(48, 64), (64, 48), (32, 64)}  # minimum rectangles, not 64x64 squares
    assert all(c[0] <= 3 for c in model.calls)
    assert max(c[0] for c in model.calls) == 3  # same-shape images did share batches
    rare = shapes.index((32, 64))
    assert rare < len(shapes) - 1  # the rare shape was flushed early, not held until the end

    square = _Recorder(batch=3, dynamic=False)  # static models keep square batches
    list(Predictor(square, InferenceSettings()).run(Predictor(square, InferenceSettings()).prepare(r) for r in refs))
    assert {c[2:] for c in square.calls} == {(64, 64)} and [c[0] for c in square.calls] == [3, 3, 3, 3]


def _iou(a, b):
    tl, br = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (br - tl).clip(0).prod(2)
    area = lambda z: (z[:, 2:] - z[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_boxes_equal_ultralytics_on_the_same_onnx(fall_onnx, coco128_dir, tmp_path):
    """Ours (rect buckets, batch 4) vs `YOLO(onnx).predict` image by image: same counts, IoU >= 0.99."""
    from ultralytics import YOLO

    from yolo_transfer.inference.api import predict

    src = tmp_path / "imgs"
    src.mkdir()
    images = sorted((coco128_dir / "images" / "val2017").glob("*.jpg"))[:10]  # 4:3, 3:4, 640x427, 640x640 ...
    for p in images:
        shutil.copy(p, src / p.name)
    conf = 0.1
    predict(fall_onnx, src, tmp_path / "out", conf=conf, batch=4, device="cpu", show_progress=False)
    ours = {Path(r["image"]).name: r["detections"]
            for r in map(json.loads, (tmp_path / "out" / "predictions.jsonl").read_text().splitlines())}
    model = YOLO(str(fall_onnx), task="detect")
    total = 0
    for p in sorted(src.iterdir()):
        ref = model.predict(str(p), conf=conf, imgsz=160, device="cpu", verbose=False)[0].boxes
        mine = ours[p.name]
        assert len(mine) == len(ref), p.name
        total += len(ref)
        if len(ref):
            iou = _iou(np.array([d["xyxy"] for d in mine]), ref.xyxy.numpy())
            assert iou.max(1).min() >= 0.99, p.name
            assert sorted(d["class_id"] for d in mine) == sorted(ref.cls.int().tolist())
    assert total >= 5  # the comparison saw real boxes


def test_truncated_checkpoint_is_one_line_exit_2(fall_weights, good_folder, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(fall_weights.read_bytes()[:100_000])
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "yolo_transfer", "predict", str(broken), str(good_folder),
                           "--out", str(out)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "broken.pt" in lines[0], lines
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("batch", [1, 8])
def test_results_in_source_order_at_any_batch(fall_onnx, good_folder, tmp_path, batch):
    from yolo_transfer.inference.api import predict
    from yolo_transfer.inference.sources import list_images

    s = predict(fall_onnx, good_folder, tmp_path / "o", batch=batch, device="cpu", show_progress=False)
    names = [json.loads(line)["image"] for line in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert s.processed == 8 and names == [r.path for r in list_images(good_folder)]  # source order, once each
