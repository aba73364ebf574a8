"""Shared fixtures: generated data (always available) and the real assets in ../shared (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))

# Keep Ultralytics' settings and any stray run folders out of the user's home and the repo.
os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO / "runs" / ".ultralytics-config"))
os.environ.setdefault("YOLO_OFFLINE", "1")


def _shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"real test asset {path} not found (clone with ../shared beside the repo to run this test)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _shared("")


@pytest.fixture(scope="session")
def fall_weights() -> Path:
    """A real third-party YOLOv8s checkpoint (2 classes), standing in for a COCO checkpoint."""
    return _shared("weights/yolov8s-fall.pt")


@pytest.fixture(scope="session")
def coco8_yaml(tmp_path_factory) -> Path:
    """A private copy of coco8 (8 images): Ultralytics writes label caches beside the data, never into ../shared."""
    import shutil

    src = _shared("datasets/coco8")
    dst = tmp_path_factory.mktemp("coco8") / "coco8"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst / "coco8.yaml"


@pytest.fixture(scope="session")
def coco128_dir() -> Path:
    return _shared("datasets/coco128")


@pytest.fixture(scope="session")
def bccd_dir() -> Path:
    return _shared("datasets/BCCD")


@pytest.fixture(scope="session")
def cavity_dir() -> Path:
    return _shared("datasets/cavity_coco")


@pytest.fixture(scope="session")
def synth_yaml(tmp_path_factory) -> Path:
    """A small generated defect dataset (3 classes, 64 px): needs nothing but this repo."""
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

    root = tmp_path_factory.mktemp("synth")
    return make_synthetic_dataset(root, SynthSpec(train=16, val=8, imgsz=64, seed=0))


@pytest.fixture(scope="session")
def tiny_model(synth_yaml, tmp_path_factory) -> Path:
    """A tiny YOLO11n trained from its YAML for one epoch at 64 px on the synthetic set; returns best.pt."""
    from ultralytics import YOLO

    project = tmp_path_factory.mktemp("tiny-train")
    model = YOLO("yolo11n.yaml")
    model.train(
        data=str(synth_yaml), epochs=1, imgsz=64, batch=8, workers=0, device="cpu", project=str(project),
        name="tiny", plots=False, verbose=False, seed=0, deterministic=True,
    )
    best = project / "tiny" / "weights" / "best.pt"
    assert best.exists()
    return best
