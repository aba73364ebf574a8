"""The COCO results JSON evaluates against real ground truth (coco128) with faster-coco-eval."""

from __future__ import annotations

import json

import cv2
import numpy as np

from yolo_transfer.inference.api import predict


def _ground_truth(coco128_dir, path):
    """A COCO ground-truth file built from coco128's YOLO labels, ids = numeric file stems (COCO's naming)."""
    images, anns = [], []
    for img in sorted((coco128_dir / "images" / "train2017").glob("*.jpg")):
        h, w = cv2.imread(str(img)).shape[:2]
        images.append({"id": int(img.stem), "file_name": img.name, "width": w, "height": h})
        label = coco128_dir / "labels" / "train2017" / f"{img.stem}.txt"
        rows = np.loadtxt(label, ndmin=2) if label.exists() and label.stat().st_size else np.zeros((0, 5))
        for c, cx, cy, bw, bh in rows:
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            anns.append({"id": len(anns) + 1, "image_id": int(img.stem), "category_id": int(c), "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
    cats = [{"id": i, "name": str(i)} for i in range(80)]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_coco_results_evaluate_against_coco128(fall_onnx, coco128_dir, tmp_path):
    from faster_coco_eval import COCO, COCOeval_faster

    out = tmp_path / "out"
    summary = predict(fall_onnx, coco128_dir / "images" / "train2017", out, formats="coco", imgsz=224, conf=0.01,
                      batch=8)
    assert summary.processed == 128 and summary.errors == 0
    gt = COCO(str(_ground_truth(coco128_dir, tmp_path / "gt.json")))
    listed = json.loads((out / "coco_images.json").read_text())["images"]
    assert sorted(i["id"] for i in listed) == sorted(gt.getImgIds())  # the image list lines up with the GT ids
    results = json.loads((out / "coco_results.json").read_text())
    assert results and {r["image_id"] for r in results} <= set(gt.getImgIds())
    # The model's two classes (Normal / Fall) are both people: score them as COCO "person" (id 0).
    for r in results:
        r["category_id"] = 0
    dt = gt.loadRes(results)
    ev = COCOeval_faster(gt, dt, "bbox")
    ev.params.catIds = [0]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ap50 = ev.stats[1]
    # Measured 0.20 here: a person detector finds COCO's people; a wrong box conversion or id mapping scores ~0.
    assert 0.1 < ap50 <= 1.0, ap50
