"""Backends: `.pt` and `.onnx` of one model give the same boxes; every registered backend loads or says why not."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from yolo_transfer.detections import Detections, match
from yolo_transfer.errors import UserError
from yolo_transfer.inference.api import predict
from yolo_transfer.inference.backends import BACKENDS, load_backend


def _dets(out):
    return {json.loads(line)["image"]: Detections.from_records(json.loads(line)["detections"])
            for line in (out / "predictions.jsonl").read_text().splitlines()}


def test_pt_and_onnx_give_the_same_boxes(fall_pt, fall_onnx, coco8_yaml, tmp_path):
    src = coco8_yaml.parent / "images"
    predict(fall_pt, src, tmp_path / "pt", imgsz=160, conf=0.05, batch=4, device="cpu")
    predict(fall_onnx, src, tmp_path / "onnx", imgsz=160, conf=0.05, batch=3, device="cpu")
    a, b = _dets(tmp_path / "pt"), _dets(tmp_path / "onnx")
    assert a.keys() == b.keys() and len(a) == 8
    total = sum(len(d) for d in a.values())
    assert total > 0
    for key in a:
        da, db = a[key], b[key]
        ia, ib, ious = match(da, db, iou_threshold=0.5)
        # Boxes near the confidence threshold may flip between runtimes; everything else must pair up exactly.
        strong = da.confidence > 0.1
        assert set(ia) >= set(map(int, strong.nonzero()[0])), key
        assert (ious >= 0.99).all(), (key, ious.min())
        assert abs(da.confidence[ia] - db.confidence[ib]).max(initial=0) < 0.01
    assert sum(len(match(a[k], b[k], 0.99)[0]) for k in a) >= 0.95 * total


def _availability(name):
    return {"openvino": "openvino", "engine": "tensorrt"}.get(name)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_loads_or_explains(name, fall_pt, fall_onnx, tmp_path):
    module = _availability(name)
    if module and importlib.util.find_spec(module) is None:
        fake = tmp_path / ("m_openvino_model" if name == "openvino" else "m.engine")
        fake.mkdir() if name == "openvino" else fake.write_bytes(b"\0")
        with pytest.raises(UserError, match=f"needs the Python package '{module}'") as e:
            load_backend(fake)
        assert "\n" not in str(e.value)
        return
    if name == "engine":
        pytest.skip("TensorRT is installed but building an engine needs an NVIDIA GPU (covered by the bench)")
    if name == "openvino":
        from ultralytics import YOLO

        weights = YOLO(str(fall_pt)).export(format="openvino", imgsz=96, dynamic=False, verbose=False)
    else:
        weights = {"pt": fall_pt, "onnx": fall_onnx}[name]
    model = load_backend(weights, imgsz=96 if name != "openvino" else None, batch=2, device="cpu")
    assert model.name == name and model.names == {0: "Normal", 1: "Fall"} and model.imgsz == (96, 96)
    assert model.describe()["precision"] == "fp32" and model.device == "cpu"  # FP32 on any CPU, GPU or not
    import numpy as np

    raw = model.infer(np.zeros((model.batch, 3, 96, 96), np.float32))
    assert raw.shape[0] == model.batch and raw.shape[1] == 6  # (B, 4 + 2 classes, anchors)


def test_default_batch_is_the_backends_measured_one(fall_pt, fall_onnx):
    """Every caller (predict, Ray actors, Python) gets the measured default: ONNX Runtime on CPU batch 1 (a
    quarter of batch 8's peak memory, same speed on 2 cores), other backends DEFAULT_BATCH; an explicit batch wins."""
    from yolo_transfer.inference.backends import DEFAULT_BATCH

    assert load_backend(fall_onnx, device="cpu").batch == 1
    assert load_backend(fall_onnx, device="cpu", batch=4).batch == 4
    assert load_backend(fall_pt, device="cpu").batch == DEFAULT_BATCH


@pytest.mark.slow
def test_pt_and_openvino_give_the_same_boxes_on_any_cpu(fall_pt, coco8_yaml, tmp_path, monkeypatch):
    """An FP32 OpenVINO IR runs at FP32 in `predict` even where OpenVINO would pick bf16 (forced here)."""
    pytest.importorskip("openvino", reason="openvino not installed")
    from ultralytics import YOLO

    monkeypatch.setenv("YOLO_TRANSFER_OPENVINO_DEFAULT", "bf16")
    pt = tmp_path / "ov.pt"
    shutil.copy(fall_pt, pt)
    ov = YOLO(str(pt)).export(format="openvino", imgsz=640, dynamic=True, verbose=False)
    src = coco8_yaml.parent / "images"
    predict(pt, src, tmp_path / "pt", imgsz=640, conf=0.1, batch=4, device="cpu")
    summary = predict(ov, src, tmp_path / "ov", imgsz=640, conf=0.1, batch=4, device="cpu")
    assert summary.model["precision"] == "fp32"  # read back from the compiled model
    assert json.loads((tmp_path / "ov" / "summary.json").read_text())["model"]["precision"] == "fp32"
    a, b = _dets(tmp_path / "pt"), _dets(tmp_path / "ov")
    assert sum(len(d) for d in a.values()) >= 10
    for key in a:
        assert len(a[key]) == len(b[key]), key
        ia, ib, ious = match(a[key], b[key], iou_threshold=0.5)
        assert len(ia) == len(a[key]) and (ious >= 0.99).all(), (key, ious)


def test_static_onnx_refuses_another_size(fall_pt, tmp_path):
    from ultralytics import YOLO

    pt = tmp_path / "static.pt"
    shutil.copy(fall_pt, pt)
    onnx = YOLO(str(pt)).export(format="onnx", imgsz=64, dynamic=False, simplify=False, verbose=False)
    model = load_backend(onnx, batch=8)
    assert (model.imgsz, model.batch, model.fixed_batch) == ((64, 64), 1, True)
    with pytest.raises(UserError, match="fixed input of 64x64"):
        load_backend(onnx, imgsz=128)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs an NVIDIA GPU with CUDA")
def test_pt_fp16_on_cuda_matches_cpu(fall_pt, coco8_yaml, tmp_path):
    src = coco8_yaml.parent / "images"
    predict(fall_pt, src, tmp_path / "cpu", imgsz=320, conf=0.25, device="cpu")
    gpu = predict(fall_pt, src, tmp_path / "gpu", imgsz=320, conf=0.25, device="0", batch=8)
    assert gpu.model["device"].startswith("cuda")
    a, b = _dets(tmp_path / "cpu"), _dets(tmp_path / "gpu")
    n = sum(len(d) for d in a.values())
    assert n > 0 and sum(len(match(a[k], b[k], 0.9)[0]) for k in a) >= 0.9 * n  # FP16 moves boxes slightly


def test_precision_option_is_refused_where_the_runtime_has_no_such_choice(fall_onnx, good_folder, tmp_path):
    """`predict --precision bf16` on an FP32 ONNX: ONNX Runtime runs the types the file stores, so one line says
    to export at that precision instead; nothing is written."""
    from click.testing import CliRunner

    from yolo_transfer.cli import main

    r = CliRunner().invoke(main, ["predict", str(fall_onnx), str(good_folder), "--out", str(tmp_path / "o"),
                                 "--precision", "bf16"])
    assert r.exit_code == 2 and r.output.startswith("Error:") and r.output.count("\n") == 1, r.output
    assert "export it at BF16" in r.output
    assert not (tmp_path / "o").exists()
