"""A model trained on 12-bit data exports with its window: the gate passes on 12-bit images, predict on the export
gives the .pt's boxes without a flag, and an export whose window differs from its .pt's is refused by the gate."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_transfer import windows
from yolo_transfer.errors import UserError
from yolo_transfer.exporter.api import _add_engine_metadata, export
from yolo_transfer.exporter.parity import check_parity
from yolo_transfer.heads import export_metadata
from yolo_transfer.inference.api import predict
from yolo_transfer.utils.imageread import Window

W13 = Window(0, 8191, "set")


@pytest.fixture
def windowed(coco26_pt, tmp_path) -> Path:
    """yolo26n as if trained with a 13-bit window (not what `auto` would pick for 12-bit images, so only the
    recorded window can explain a result using it), stamped on the model inside the .pt."""
    ckpt = torch.load(coco26_pt, weights_only=False)
    for k in ("model", "ema"):
        if ckpt.get(k) is not None:
            windows.stamp(ckpt[k], W13)
    dst = tmp_path / "m" / "w12.pt"
    dst.parent.mkdir()
    torch.save(ckpt, dst)
    return dst


@pytest.fixture
def images12(coco128_val_images, tmp_path) -> Path:
    """6 coco128 val images, grayscale, x16 in 16-bit PNGs (a 12-bit range)."""
    out = tmp_path / "img12"
    out.mkdir()
    for p in sorted(coco128_val_images.glob("*.jpg"))[:6]:
        cv2.imwrite(str(out / f"{p.stem}.png"), cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16)
    return out


def _boxes(out: Path) -> list:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return [(Path(r["image"]).name, [(d["class_id"], np.round(d["xyxy"], 0).tolist()) for d in r["detections"]])
            for r in rows]


def test_the_export_carries_the_window_and_matches_the_pt_on_12_bit_images(windowed, images12, tmp_path):
    r = export(windowed, format="onnx", imgsz=320, parity_images=str(images12), device="cpu")
    assert r.passed, r.parity.summary()
    assert windows.of_export(r.path) == W13
    assert r.parity.comparisons["ultralytics"].compared > 0
    kw = dict(device="cpu", show_progress=False)
    s_pt = predict(windowed, images12, tmp_path / "pt", imgsz=320, **kw)
    s_onnx = predict(r.path, images12, tmp_path / "onnx", **kw)
    assert s_onnx.settings["window"] == s_pt.settings["window"] == W13.to_dict()
    assert s_pt.detections > 0 and _boxes(tmp_path / "pt") == _boxes(tmp_path / "onnx")


def test_the_gate_refuses_an_export_without_its_checkpoints_window(windowed, coco26_pt, images12, tmp_path):
    plain = export(coco26_pt, format="onnx", imgsz=320, parity=False, device="cpu", out_dir=str(tmp_path / "e"))
    with pytest.raises(UserError, match="carries the intensity window none, but .* was trained with 0,8191"):
        check_parity(windowed, plain.path, images=str(images12), device="cpu")


def test_tensorrt_metadata_gains_the_window_and_keeps_the_engine(tmp_path):
    head = json.dumps({"names": {"0": "a"}, "imgsz": [64, 64]}).encode()
    engine = tmp_path / "m.engine"
    engine.write_bytes(len(head).to_bytes(4, "little") + head + b"ENGINE-BYTES")
    _add_engine_metadata(engine, windows.metadata(Window(0, 4095, "auto")))
    assert windows.of_metadata(export_metadata(engine)) == Window(0, 4095, "auto")
    assert export_metadata(engine)["names"] == {"0": "a"} and engine.read_bytes().endswith(b"ENGINE-BYTES")


def test_the_standalone_runner_reads_with_the_exports_window(windowed, images12, tmp_path):
    from yolo_transfer.utils.imageread import read_image
    from yolo_transfer.utils.standalone import OnnxDetector, read_windowed

    r = export(windowed, format="onnx", imgsz=320, parity=False, device="cpu")
    det = OnnxDetector(str(r.path))
    p = str(next(images12.glob("*.png")))
    np.testing.assert_array_equal(read_windowed(p, det.metadata.get("pixel_window")), read_image(p, W13))
    np.testing.assert_array_equal(read_windowed(p, None), read_image(p))  # no window: the same auto rule
