"""The numpy + onnxruntime runner: same letterbox, NMS and boxes as Ultralytics, and truly standalone."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_transfer.detections import Detections, match
from yolo_transfer.utils import standalone as sa
from yolo_transfer.exporter.api import export
from yolo_transfer.utils.hashing import sha256_file

SHAPES = [(480, 640), (640, 427), (333, 517), (64, 64), (1, 300), (97, 31)]


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("auto", [False, True])
def test_letterbox_matches_ultralytics_pixel_for_pixel(hw, auto):
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.ops import scale_boxes

    rng = np.random.default_rng(sum(hw))
    img = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
    ours, ratio, pad = sa.letterbox(img, (160, 160), auto=auto, stride=32)
    theirs = LetterBox((160, 160), auto=auto, stride=32)(image=img)
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)
    # Boxes mapped back agree with Ultralytics' scale_boxes.
    box = np.array([[10.0, 12.0, 90.5, 70.25]], np.float32)
    meta = sa.Meta(hw, ratio, pad)
    expected = scale_boxes(ours.shape[:2], box.copy(), hw)
    np.testing.assert_allclose(sa._scale_back(box, meta), expected, atol=1e-4)


def test_nms_matches_torchvision():
    import torch
    import torchvision

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2)).astype(np.float32)
    wh = rng.uniform(5, 60, (300, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], 1)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    for thr in (0.3, 0.5, 0.7):
        ours = sa.nms(boxes, scores, thr)
        theirs = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()
        assert ours.tolist() == theirs.tolist()


def test_postprocess_end_to_end_output_filters_scales_and_clips():
    meta = sa.Meta(orig_shape=(100, 200), ratio=(0.5, 0.5), pad=(0.0, 25.0))
    raw = np.zeros((2, 300, 6), np.float32)  # (B, N, 6): xyxy, score, class, as YOLO26 / nms=True exports emit
    raw[0, 0] = [10, 35, 50, 45, 0.9, 3]
    raw[0, 1] = [0, 20, 120, 80, 0.6, 1]  # extends past the image: clipped
    raw[0, 2] = [1, 1, 2, 2, 0.1, 0]  # below conf
    (xyxy, scores, cids), = sa.postprocess(raw, [meta], conf=0.25, classes=None)
    np.testing.assert_allclose(xyxy, [[20, 20, 100, 40], [0, 0, 200, 100]])
    assert scores.tolist() == pytest.approx([0.9, 0.6]) and cids.tolist() == [3, 1]
    (_, _, only1), = sa.postprocess(raw, [meta], conf=0.25, classes=[1])
    assert only1.tolist() == [1]


def test_postprocess_raw_head_output_applies_class_aware_nms():
    meta = sa.Meta(orig_shape=(64, 64), ratio=(1.0, 1.0), pad=(0.0, 0.0))
    raw = np.zeros((1, 4 + 2, 3), np.float32)  # (B, 4+nc, anchors), xywh + class scores
    raw[0, :, 0] = [20, 20, 10, 10, 0.9, 0.0]
    raw[0, :, 1] = [21, 20, 10, 10, 0.8, 0.0]  # overlaps anchor 0, same class: suppressed
    raw[0, :, 2] = [21, 20, 10, 10, 0.0, 0.7]  # same place, other class: kept (not agnostic)
    (xyxy, scores, cids), = sa.postprocess(raw, [meta], conf=0.25, iou=0.5)
    assert cids.tolist() == [0, 1] and scores.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(xyxy[0], [15, 15, 25, 25])
    (_, _, agn), = sa.postprocess(raw, [meta], conf=0.25, iou=0.5, agnostic=True)
    assert agn.tolist() == [0]


@pytest.fixture(scope="module", params=[True, False], ids=["dynamic", "static-batch2"])
def fall_onnx(request, fall_weights, tmp_path_factory) -> tuple[Path, bool]:
    out = tmp_path_factory.mktemp("fall-onnx")
    dynamic = request.param
    path = export(fall_weights, "onnx", imgsz=160, dynamic=dynamic, batch=1 if dynamic else 2, parity=False,
                        out_dir=out).path
    return path, dynamic


def test_standalone_matches_source_pt_on_coco8(fall_onnx, fall_weights, coco8_images):
    from ultralytics import YOLO

    path, dynamic = fall_onnx
    files = sorted(coco8_images.rglob("*.jpg"))
    det = sa.OnnxDetector(str(path), rect=dynamic)
    assert det.names == {0: "Normal", 1: "Fall"} and det.imgsz == (160, 160)
    assert det.dynamic is dynamic and det.static_batch == (None if dynamic else 2)
    ours = det.predict([cv2.imread(str(f)) for f in files], conf=0.1)  # 8 images: 4 static batches of 2
    pt = YOLO(str(fall_weights))
    compared = 0
    for f, (xyxy, scores, cids) in zip(files, ours):
        (r,) = pt.predict(str(f), imgsz=160, conf=0.1, rect=dynamic, verbose=False)
        ref, got = Detections.from_ultralytics(r), Detections(xyxy, scores, cids)
        ia, ib, ious = match(ref, got, 0.5)
        assert len(ia) == len(ref) == len(got), f"{f.name}: {len(ref)} .pt boxes vs {len(got)} standalone"
        assert (ious > 0.999).all()
        np.testing.assert_allclose(ref.confidence[ia], got.confidence[ib], atol=1e-4)
        compared += len(ia)
    assert compared > 5  # the comparison is about real boxes, not empty lists


def test_metadata_has_names_imgsz_preset_and_hash(tiny_run):
    path = export(tiny_run, "onnx", imgsz=64, parity=False).path
    det = sa.OnnxDetector(str(path))
    assert det.metadata["source_sha256"] == sha256_file(tiny_run)
    assert det.metadata["preset"] == "small-data"
    assert set(det.names.values()) == {"scratch", "spot", "crack"}
    assert list(det.metadata["imgsz"]) == [64, 64]


def test_copied_file_runs_without_torch_or_ultralytics(fall_onnx, coco8_images, tmp_path):
    """Copy standalone.py next to the model, as a user would, and run it: JSON lines, no torch imported."""
    path, dynamic = fall_onnx
    script = tmp_path / "standalone.py"
    shutil.copy2(sa.__file__, script)
    imgs = [str(p) for p in sorted(coco8_images.rglob("*.jpg"))[:3]]
    probe = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "sys.modules['torch'] = None; sys.modules['ultralytics'] = None; sys.modules['yolo_transfer'] = None; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", probe, str(script), str(path), *imgs, "--conf", "0.1",
                           *(["--rect"] if dynamic else [])],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [rec["image"] for rec in lines] == imgs
    assert sum(len(rec["detections"]) for rec in lines) > 0
    assert {d["class_name"] for rec in lines for d in rec["detections"]} <= {"Normal", "Fall"}


def test_cli_of_standalone_reports_unreadable_image(fall_onnx, tmp_path):
    path, _ = fall_onnx
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("nope")
    proc = subprocess.run([sys.executable, sa.__file__, str(path), str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [f"Error: cannot read image {bad}"]


def test_nms_export_end_to_end_output_matches_pt(fall_weights, coco8_images, tmp_path):
    """`--nms` puts NMS in the graph (output (B, N, 6)); the standalone runner reads it and still matches the .pt."""
    result = export(fall_weights, "onnx", imgsz=160, nms=True, parity_images=coco8_images, parity_conf=0.1,
                          out_dir=tmp_path)
    det = sa.OnnxDetector(str(result.path))
    (out,) = det.session.get_outputs()
    assert out.shape[-1] == 6  # end-to-end layout, not (B, 4+nc, anchors)
    standalone = result.parity.comparisons["standalone"]
    assert result.parity.passed, result.parity.failures
    assert standalone.compared > 0 and standalone.unmatched_reference == standalone.unmatched_exported == 0
    # The graph dropped boxes under its baked conf (0.25), so the gate judged only boxes safely above it.
    assert result.parity.conf == pytest.approx(0.25 + 0.01)
