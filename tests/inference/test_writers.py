"""Every registered writer produces its output for every good image, consistent with the JSONL records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from yolo_transfer.inference.api import predict
from yolo_transfer.inference.writers import WRITERS


@pytest.fixture(scope="module")
def run_all(fall_onnx, coco8_images, tmp_path_factory):
    """One run writing every format (they share the same results), plus its JSONL as the reference."""
    src = tmp_path_factory.mktemp("w-src")
    for p in coco8_images:
        (src / p.parent.name).mkdir(exist_ok=True)
        (src / p.parent.name / p.name).write_bytes(p.read_bytes())
    out = tmp_path_factory.mktemp("w-out")
    summary = predict(fall_onnx, src, out, formats=list(WRITERS), conf=0.05)
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return src, out, summary, records


def _check_jsonl(out, records, src):
    assert len(records) == 8 and all(set(r) == {"image", "width", "height", "detections"} for r in records)
    for r in records:
        h, w = cv2.imread(r["image"]).shape[:2]
        assert (r["width"], r["height"]) == (w, h)
        for d in r["detections"]:
            x1, y1, x2, y2 = d["xyxy"]
            assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h and d["class_name"] in {"Normal", "Fall"}


def _check_csv(out, records, src):
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["image"] for r in rows} == {r["image"] for r in records}  # images without boxes still appear
    boxes = [r for r in rows if r["class_id"] != ""]
    assert len(boxes) == sum(len(r["detections"]) for r in records)
    first = next(d for r in records for d in r["detections"])
    assert [float(boxes[0][k]) for k in ("x1", "y1", "x2", "y2")] == first["xyxy"]


def _check_coco(out, records, src):
    from faster_coco_eval import COCO

    images = COCO(str(out / "coco_images.json"))
    assert sorted(images.getImgIds()) == sorted(int(Path(r["image"]).stem) for r in records)
    assert {c["name"] for c in images.loadCats(images.getCatIds())} == {"Normal", "Fall"}
    dets = images.loadRes(str(out / "coco_results.json"))
    assert len(dets.getAnnIds()) == sum(len(r["detections"]) for r in records)
    one = next(r for r in records if r["detections"])
    ann = dets.loadAnns(dets.getAnnIds(imgIds=[int(Path(one["image"]).stem)]))[0]
    x1, y1, x2, y2 = one["detections"][0]["xyxy"]
    assert ann["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.02)


def _check_images(out, records, src):
    for r in records:
        drawn = cv2.imread(str(out / "annotated" / Path(r["image"]).relative_to(src)))
        original = cv2.imread(r["image"])
        assert drawn.shape == original.shape
        assert (cv2.absdiff(drawn, original).max() > 100) == bool(r["detections"])  # boxes drawn iff detected


def _check_crops(out, records, src):
    crops = sorted((out / "crops").rglob("*.jpg"))
    assert len(crops) == sum(len(r["detections"]) for r in records)
    d = next(r for r in records if r["detections"])
    box = d["detections"][0]
    rel = Path(d["image"]).relative_to(src).with_suffix("")
    crop = cv2.imread(str(out / "crops" / box["class_name"] / f"{rel}_0.jpg"))
    x1, y1, x2, y2 = box["xyxy"]
    assert abs(crop.shape[1] - (x2 - x1)) <= 2 and abs(crop.shape[0] - (y2 - y1)) <= 2


CHECKS = {"jsonl": _check_jsonl, "csv": _check_csv, "coco": _check_coco, "images": _check_images,
          "crops": _check_crops}


def test_every_registered_writer_has_a_check():
    assert set(CHECKS) == set(WRITERS)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writer_output(run_all, name):
    src, out, summary, records = run_all
    assert sum(len(r["detections"]) for r in records) == summary.detections > 0
    CHECKS[name](out, records, src)


def test_summary_counts_match_records(run_all):
    _, out, summary, records = run_all
    per_class = {}
    for r in records:
        for d in r["detections"]:
            per_class[d["class_name"]] = per_class.get(d["class_name"], 0) + 1
    saved = json.loads((out / "summary.json").read_text())
    assert saved["per_class"] == per_class == summary.per_class
    assert saved["images_with_detections"] == sum(bool(r["detections"]) for r in records)
    assert "images/s" in (out / "summary.md").read_text()
