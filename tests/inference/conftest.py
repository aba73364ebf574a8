"""Fixtures for the predict tests: an ONNX export of the real YOLOv8s checkpoint and small image folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fall_pt(fall_weights, tmp_path_factory) -> Path:
    """A private copy, so exports land in a temp folder and never next to ../shared."""
    dst = tmp_path_factory.mktemp("fall") / "fall.pt"
    shutil.copy(fall_weights, dst)
    return dst


@pytest.fixture(scope="session")
def fall_onnx(fall_pt) -> Path:
    """`fall.pt` exported by Ultralytics to a dynamic-shape ONNX (metadata imgsz 160)."""
    from ultralytics import YOLO

    path = Path(YOLO(str(fall_pt)).export(format="onnx", imgsz=160, dynamic=True, simplify=True, verbose=False))
    assert path.exists()
    return path


@pytest.fixture(scope="session")
def coco8_images(coco8_yaml) -> list[Path]:
    images = sorted((coco8_yaml.parent / "images").rglob("*.jpg"))
    assert len(images) == 8
    return images


@pytest.fixture
def good_folder(tmp_path, coco8_images) -> Path:
    """The 8 coco8 images, half of them one folder down (SOURCE folders are searched recursively)."""
    root = tmp_path / "images"
    for i, src in enumerate(coco8_images):
        dst = root / ("nested" if i % 2 else "") / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    return root


@pytest.fixture
def bad_folder(good_folder) -> Path:
    """Good images plus a truncated JPEG, a zero-byte file and a text file named .jpg."""
    donor = min(good_folder.rglob("*.jpg")).read_bytes()
    (good_folder / "truncated.jpg").write_bytes(donor[: len(donor) // 2])
    (good_folder / "empty.jpg").write_bytes(b"")
    (good_folder / "notes.jpg").write_text("this is not an image\n")
    return good_folder
