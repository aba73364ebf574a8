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
    (run / "transfer.json").write_text(json.dumps({"preset": "small-data", "source_weights": "yolo11n.yaml",
                                                   "class_map": {}}))
    return run / "weights" / "best.pt"


@pytest.fixture(scope="session")
def coco8_images(coco8_yaml) -> Path:
    return coco8_yaml.parent / "images"


@pytest.fixture(scope="session")
def synth_images(synth_yaml) -> Path:
    return synth_yaml.parent / "images" / "val"
