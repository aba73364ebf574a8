"""Export fixtures: a checkpoint fine-tuned briefly from the real fall-detection YOLOv8s, and a run-folder layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fall_finetuned(fall_weights, coco8_yaml, tmp_path_factory) -> Path:
    """yolov8s-fall.pt fine-tuned for one epoch on coco8 at 96 px with the backbone frozen (~10 s on 2 cores).

    Its new 80-class head is barely trained, so its scores are low: parity tests use a low conf and assert that
    boxes were actually compared.
    """
    from ultralytics import YOLO

    project = tmp_path_factory.mktemp("fall-ft")
    YOLO(str(fall_weights)).train(
        data=str(coco8_yaml), epochs=1, imgsz=96, freeze=10, batch=4, workers=0, device="cpu", project=str(project),
        name="ft", plots=False, verbose=False, seed=0, deterministic=True, val=False, amp=False,
    )
    last = project / "ft" / "weights" / "last.pt"
    assert last.exists()
    return last


@pytest.fixture
def tiny_run(tiny_model, tmp_path) -> Path:
    """The tiny checkpoint laid out like a training run (runs/<name>/weights/best.pt + transfer.json)."""
    run = tmp_path / "runs" / "tiny"
    (run / "weights").mkdir(parents=True)
    shutil.copy2(tiny_model, run / "weights" / "best.pt")
    # the keys training writes (training/api.py); a real run folder is exercised in test_export.py too
    (run / "transfer.json").write_text(json.dumps({"preset": "small-data", "class_map": {},
                                                   "source": {"path": "yolo11n.yaml", "sha256": None}}))
    return run / "weights" / "best.pt"


@pytest.fixture(scope="session")
def person_yaml(coco128_dir, tmp_path_factory) -> Path:
    """32 coco128 images with people, labelled with their person boxes as the fall model's class 0 ('Normal').

    yolov8s-fall finds people well here (its reference mAP50-95 is tens of points), so a gate's mAP comparison at
    a 0.5-point limit can really fail, and its boxes score well above the gate's conf.
    """
    import shutil

    import yaml

    root = tmp_path_factory.mktemp("person") / "person"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    picked = 0
    for lbl in sorted((coco128_dir / "labels" / "train2017").glob("*.txt")):
        rows = [r for r in lbl.read_text().splitlines() if r.split()[:1] == ["0"]]
        img = coco128_dir / "images" / "train2017" / (lbl.stem + ".jpg")
        if not rows or len(rows) > 6 or not img.exists():  # a few clear people per image, not crowds
            continue
        shutil.copy(img, root / "images" / img.name)
        (root / "labels" / lbl.name).write_text("\n".join(rows) + "\n")
        picked += 1
        if picked == 32:
            break
    (root / "person.yaml").write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images",
                                                      "names": {0: "Normal", 1: "Fall"}}))
    return root / "person.yaml"


@pytest.fixture(scope="session")
def coco8_images(coco8_yaml) -> Path:
    return coco8_yaml.parent / "images"


@pytest.fixture(scope="session")
def synth_images(synth_yaml) -> Path:
    return synth_yaml.parent / "images" / "val"
