"""Fixtures for the dataset tests: the real sets converted once per session, and tiny hand-made sources."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_transfer.data.convert import convert


@pytest.fixture(scope="session")
def bccd_converted(bccd_dir, tmp_path_factory):
    """BCCD (Pascal VOC) converted to YOLO, images copied."""
    return convert(bccd_dir, tmp_path_factory.mktemp("bccd") / "bccd-yolo", show_progress=False)


@pytest.fixture(scope="session")
def cavity_converted(cavity_dir, tmp_path_factory):
    """cavity_coco (COCO JSON, Roboflow) converted to YOLO, images linked."""
    return convert(cavity_dir, tmp_path_factory.mktemp("cavity") / "cavity-yolo", link=True, show_progress=False)


def write_image(path: Path, w: int, h: int, seed: int) -> Path:
    """A distinct, structured image (random blocks, not noise) so perceptual hashes differ between seeds."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


@pytest.fixture(scope="session")
def image_writer():
    """`write_image(path, w, h, seed)` for tests that build their own datasets."""
    return write_image


def make_voc(root: Path, objects: dict[str, list[dict]], size: tuple[int, int] = (120, 80),
             declared: dict[str, tuple[int, int]] | None = None) -> Path:
    """A VOC folder: one 120x80 JPEG + XML per stem; objects are dicts name/box(/difficult)."""
    declared = declared or {}
    for k, (stem, objs) in enumerate(objects.items()):
        write_image(root / "JPEGImages" / f"{stem}.jpg", *size, seed=k)
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = f"{stem}.jpg"
        sz = ET.SubElement(ann, "size")
        w, h = declared.get(stem, size)
        ET.SubElement(sz, "width").text, ET.SubElement(sz, "height").text = str(w), str(h)
        for o in objs:
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = o["name"]
            ET.SubElement(obj, "difficult").text = str(int(o.get("difficult", 0)))
            bb = ET.SubElement(obj, "bndbox")
            for key, v in zip(("xmin", "ymin", "xmax", "ymax"), o["box"]):
                ET.SubElement(bb, key).text = str(v)
        ET.indent(ann)
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        ET.ElementTree(ann).write(root / "Annotations" / f"{stem}.xml")
    return root


def make_coco(root: Path, images: list[dict], annotations: list[dict], categories: list[dict],
              json_name: str = "train/_annotations.coco.json", image_dir: str | None = None) -> Path:
    """A COCO file; every image dict gets a real image file written (size from its width/height unless
    `real_size` is given) beside the JSON, or in `image_dir`."""
    folder = root / (image_dir if image_dir is not None else Path(json_name).parent)
    for k, im in enumerate(images):
        w, h = im.pop("real_size", (im["width"], im["height"]))
        write_image(folder / im["file_name"], w, h, seed=100 + k)
    path = root / json_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root


@pytest.fixture(scope="session")
def coco_maker():
    """`make_coco(root, images, annotations, categories, json_name=..., image_dir=None)`."""
    return make_coco


@pytest.fixture
def voc_source(tmp_path) -> Path:
    """Small VOC set covering every VOC rule (one quirk per image)."""
    return make_voc(tmp_path / "voc", {
        "plain": [{"name": "dog", "box": (10, 10, 50, 40)}, {"name": "cat", "box": (60, 20, 100, 70)}],
        "clip": [{"name": "cat", "box": (-5, 10, 130, 40)}],
        "zero": [{"name": "dog", "box": (30, 30, 30, 30)}, {"name": "dog", "box": (5, 5, 25, 25)}],
        "dup": [{"name": "cat", "box": (10, 10, 40, 40)}, {"name": "cat", "box": (10, 10, 40, 40)}],
        "hard": [{"name": "dog", "box": (20, 20, 60, 60), "difficult": 1}],
        "resized": [{"name": "dog", "box": (10, 10, 30, 30)}],
    }, declared={"resized": (240, 160)})


@pytest.fixture
def coco_source(tmp_path) -> Path:
    """Small COCO set: non-contiguous ids, a Roboflow-style dummy parent category, iscrowd, a background image,
    a file name with a space inside a subfolder, a wrong declared size."""
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
        {"id": 2, "file_name": "sub dir/b c.jpg", "width": 80, "height": 60},
        {"id": 3, "file_name": "empty.jpg", "width": 64, "height": 64},
        {"id": 4, "file_name": "wrong.jpg", "width": 200, "height": 200, "real_size": (100, 100)},
    ]
    anns = [
        {"id": 10, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 3, "bbox": [50, 10, 30, 30], "iscrowd": 0},
        {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, 40, 30], "iscrowd": 1},
        {"id": 13, "image_id": 2, "category_id": 7, "bbox": [4, 6, 8, 10], "iscrowd": 0},
        {"id": 14, "image_id": 4, "category_id": 7, "bbox": [10, 10, 50, 50], "iscrowd": 0},
    ]
    cats = [{"id": 0, "name": "parts", "supercategory": "none"}, {"id": 3, "name": "bolt", "supercategory": "parts"},
            {"id": 7, "name": "nut", "supercategory": "parts"}]
    return make_coco(tmp_path / "coco", images, anns, cats)


@pytest.fixture
def labelme_source(tmp_path) -> Path:
    """Small LabelMe export: a rectangle, a polygon (-> its bounding box), a box past the edge, a background image."""
    root = tmp_path / "labelme"
    shapes = {
        "a": [{"label": "dog", "points": [[10, 10], [50, 40]], "shape_type": "rectangle"}],
        "b": [{"label": "cat", "points": [[20, 5], [60, 30], [30, 70]], "shape_type": "polygon"},
              {"label": "dog", "points": [[100, 60], [130, 90]], "shape_type": "rectangle"}],
        "c": [],
    }
    for k, (stem, s) in enumerate(shapes.items()):
        write_image(root / f"{stem}.jpg", 120, 80, seed=200 + k)
        (root / f"{stem}.json").write_text(json.dumps({"version": "5.2.1", "shapes": s, "imagePath": f"{stem}.jpg",
                                                       "imageData": None, "imageHeight": 80, "imageWidth": 120}))
    return root


@pytest.fixture
def cvat_source(tmp_path) -> Path:
    """Small CVAT-for-images export: annotations.xml + images/, one box past the edge, one image without boxes."""
    root = tmp_path / "cvat"
    ann = ET.Element("annotations")
    ET.SubElement(ann, "version").text = "1.1"
    boxes = {"a.jpg": [("bolt", 5, 5, 40, 30)], "b.jpg": [("nut", 10, 10, 30, 30), ("bolt", 90, 50, 140, 95)],
             "c.jpg": []}
    for k, (name, bs) in enumerate(boxes.items()):
        write_image(root / "images" / name, 120, 80, seed=300 + k)
        img = ET.SubElement(ann, "image", id=str(k), name=name, width="120", height="80")
        for label, x1, y1, x2, y2 in bs:
            ET.SubElement(img, "box", label=label, xtl=str(x1), ytl=str(y1), xbr=str(x2), ybr=str(y2), occluded="0")
    ET.ElementTree(ann).write(root / "annotations.xml", xml_declaration=True, encoding="utf-8")
    return root
