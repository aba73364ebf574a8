"""INT8 with the stem and the Detect head's box branch in FP32: the boxes stay where the FP32 model puts them."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_transfer.detections import Detections, match
from yolo_transfer.errors import UserError
from yolo_transfer.exporter.quantize import (calibration_images, detect_head_prefix, fp32_nodes, quantize_onnx,
                                           stem_nodes)


@pytest.fixture(scope="module")
def fall_onnx_160(fall_weights, tmp_path_factory) -> Path:
    from ultralytics import YOLO

    pt = tmp_path_factory.mktemp("q") / "fall.pt"
    shutil.copy(fall_weights, pt)
    return Path(YOLO(str(pt)).export(format="onnx", imgsz=160, dynamic=True, simplify=True, verbose=False))


def test_box_branch_dfl_and_final_concat_stay_fp32(fall_onnx_160):
    import onnx

    graph = onnx.load(str(fall_onnx_160)).graph
    names = [n.name for n in graph.node]
    assert detect_head_prefix(names) == "/model.22/"
    kept = set(fp32_nodes(names, "box"))
    final = next(n.name for n in graph.node if "output0" in n.output)
    assert final in kept  # the concat of boxes and scores
    assert any("/dfl/" in n for n in kept) and any("/cv2.0/" in n for n in kept)
    assert not any("/cv3." in n for n in kept)  # the class branch is quantised
    assert not any(n.startswith("/model.0/") for n in kept)  # so is the backbone
    assert set(fp32_nodes(names, "head")) > kept and fp32_nodes(names, "none") == []
    with pytest.raises(UserError, match="Detect head"):
        fp32_nodes(["/model.1/conv/Conv"], "box")


def _modules(names) -> set[int]:
    return {int(n.split("/")[1].split(".")[1]) for n in names}


def test_stem_is_every_module_before_the_stride_8_conv(fall_onnx_160, tiny_model, tmp_path):
    """YOLOv8s and YOLO11n alike: modules 0-2 (stride 2 and 4), cut where a Conv first goes past stride 4."""
    import onnx
    from ultralytics import YOLO

    shutil.copy(tiny_model, tmp_path / "tiny.pt")
    tiny = Path(YOLO(str(tmp_path / "tiny.pt")).export(format="onnx", imgsz=64, dynamic=True, verbose=False))
    for path in (fall_onnx_160, tiny):
        nodes = onnx.load(str(path)).graph.node
        stem = stem_nodes(nodes)
        assert _modules(stem) == {0, 1, 2}, path.name
        # every node of those modules, Split/Concat of the first C2f/C3k2 included; nothing of model.3 on
        assert set(stem) == {n.name for n in nodes if n.name.split("/")[1:2] in (["model.0"], ["model.1"], ["model.2"])}
        # the cut follows the strides, not fixed indices: up to stride 2 it is model.0 alone
        assert _modules(stem_nodes(nodes, max_stride=2)) == {0}


def test_stem_of_a_graph_without_downsampling_is_empty():
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name=f"/model.{i}/conv/Conv", strides=[1, 1])
             for i in range(4)]
    assert stem_nodes(nodes) == []


def test_calibration_images_come_from_the_users_train_split(coco128_dir, tmp_path):
    files, label = calibration_images(coco128_dir / "coco128.yaml", limit=10)
    assert len(files) == 10 and all("train2017" in str(f) for f in files) and "train split" in label
    with pytest.raises(UserError, match="no calibration images"):
        calibration_images(tmp_path)


def test_int8_keeps_the_boxes_of_fp32(fall_onnx_160, coco128_dir, tmp_path):
    """Calibrated on coco128 train, judged on val images it never saw: same boxes as FP32 (IoU), metadata kept."""
    from yolo_transfer.utils.standalone import OnnxDetector

    out = tmp_path / "fall_int8.onnx"
    import onnx

    res = quantize_onnx(fall_onnx_160, out, coco128_dir / "coco128.yaml", max_images=24)
    assert res.calibration_images == 24 and {0, 1, 2, 22} <= _modules(res.kept_fp32)
    # what runs INT8: a Conv fed by a DequantizeLinear; the stem's Convs are not, the backbone's next one is
    graph = onnx.load(str(out)).graph
    dq_out = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    int8_convs = {n.name.split("/")[1] for n in graph.node if n.op_type == "Conv" and n.input[0] in dq_out}
    assert {"model.3", "model.21"} <= int8_convs and not int8_convs & {"model.0", "model.1", "model.2"}
    assert out.stat().st_size < fall_onnx_160.stat().st_size / 2  # weights really are 8-bit
    fp32 = OnnxDetector(str(fall_onnx_160), rect=True)
    int8 = OnnxDetector(str(out), rect=True)
    assert (int8.names, int8.imgsz, int8.dynamic) == (fp32.names, fp32.imgsz, True)
    images = [cv2.imread(str(p)) for p in sorted((coco128_dir / "images" / "val2017").glob("*.jpg"))[:24]]
    n_fp32 = n_int8 = 0
    ious = []
    for a, b in zip(fp32.predict(images, conf=0.1), int8.predict(images, conf=0.1)):
        da, db = Detections(*a), Detections(*b)
        n_fp32, n_int8 = n_fp32 + len(da), n_int8 + len(db)
        ious += match(da, db, 0.5)[2].tolist()
    assert n_fp32 >= 10
    assert abs(n_int8 - n_fp32) <= 0.2 * n_fp32
    assert len(ious) >= 0.8 * n_fp32 and np.median(ious) >= 0.95


def test_histogram_calibration_takes_rect_images_of_different_shapes(fall_onnx_160, coco128_dir, tmp_path):
    """Percentile/entropy used to stack every image's tensors and failed on rect letterboxes of different sizes."""
    import onnx

    from yolo_transfer.utils.standalone import preprocess

    files, _ = calibration_images(coco128_dir / "coco128.yaml", limit=8)
    shapes = {preprocess([cv2.imread(str(f))], (160, 160), auto=True)[0].shape for f in files}
    assert len(shapes) > 1  # the case that broke
    out = tmp_path / "pct.onnx"
    res = quantize_onnx(fall_onnx_160, out, coco128_dir / "coco128.yaml", max_images=8, method="percentile")
    assert res.method == "percentile" and res.calibration_images == 8
    assert any(n.op_type == "DequantizeLinear" for n in onnx.load(str(out)).graph.node)
