"""A dataset from outside reads nothing outside it: escaping image paths are refused in every format."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.data.conftest import make_voc, write_image
from yolo_transfer.cli import main
from yolo_transfer.data.convert import convert
from yolo_transfer.data.paths import ALLOW_ENV, PathsOutside
from yolo_transfer.data.yolo_layout import check_data_yaml

BOX = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 20]}]
CATS = [{"id": 1, "name": "defect"}]


@pytest.fixture
def secret(tmp_path) -> Path:
    """A private image of the user's, outside any dataset."""
    return write_image(tmp_path / "elsewhere" / "secret.jpg", 64, 48, seed=7)


def _coco(root: Path, file_name: str) -> Path:
    write_image(root / "train" / "ok.jpg", 64, 48, seed=1)
    images = [{"id": 1, "file_name": "ok.jpg", "width": 64, "height": 48},
              {"id": 2, "file_name": file_name, "width": 64, "height": 48}]
    ann = BOX + [{**BOX[0], "id": 2, "image_id": 2}]
    (root / "train" / "_annotations.coco.json").write_text(json.dumps({"images": images, "annotations": ann,
                                                                       "categories": CATS}))
    return root


def _labelme(root: Path, image_path: str) -> Path:
    write_image(root / "train" / "a.jpg", 64, 48, seed=1)
    shapes = [{"label": "defect", "points": [[1, 1], [20, 20]], "shape_type": "rectangle"}]
    for stem, ip in (("a", "a.jpg"), ("b", image_path)):
        (root / "train" / f"{stem}.json").write_text(json.dumps({"version": "5.2.1", "shapes": shapes,
                                                                 "imagePath": ip, "imageData": None,
                                                                 "imageHeight": 48, "imageWidth": 64}))
    return root


def _cvat(root: Path, name: str) -> Path:
    write_image(root / "images" / "a.jpg", 64, 48, seed=1)
    imgs = "".join(f'<image id="{i}" name="{n}" width="64" height="48"><box label="defect" xtl="1" ytl="1" '
                   f'xbr="20" ybr="20"/></image>' for i, n in enumerate(("a.jpg", name)))
    (root / "annotations.xml").write_text(f'<?xml version="1.0"?><annotations><version>1.1</version>'
                                          f'<meta><task><labels><label><name>defect</name></label></labels></task>'
                                          f'</meta>{imgs}</annotations>')
    return root


def _voc_link(root: Path, target: Path) -> Path:
    make_voc(root, {"a": [{"name": "defect", "box": [1, 1, 20, 20]}], "b": [{"name": "defect", "box": [1, 1, 9, 9]}]})
    (root / "JPEGImages" / "b.jpg").unlink()
    os.symlink(target, root / "JPEGImages" / "b.jpg")  # a link *file* pointing out of the dataset
    return root


CASES = {
    "coco-dotdot": lambda root, s: _coco(root, f"../../{s.parent.name}/{s.name}"),
    "coco-absolute": lambda root, s: _coco(root, str(s)),
    "labelme-dotdot": lambda root, s: _labelme(root, os.path.relpath(s, root / "train")),
    "cvat-absolute": lambda root, s: _cvat(root, str(s)),
    "voc-link-file": lambda root, s: _voc_link(root, s),
}


@pytest.mark.parametrize("case", CASES)
def test_an_annotation_naming_a_file_outside_its_dataset_is_refused(case, secret, tmp_path):
    if case.startswith(("labelme", "cvat")):
        pytest.importorskip("globox")
    src = CASES[case](tmp_path / "src", secret)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["data", "convert", str(src), str(out)])
    assert r.exit_code == 2, r.output
    assert "leave the dataset folder" in r.output and "1 path outside" in r.output and "--allow-outside" in r.output
    assert not out.exists()  # nothing half-written
    # the user's explicit permission reads it
    report = convert(src, tmp_path / "out2", allow_outside=[secret.parent])
    assert sum(report.images.values()) == 2


def test_symlinked_folders_inside_the_dataset_keep_working(tmp_path):
    real = tmp_path / "storage" / "train"
    _coco(tmp_path / "storage", "ok.jpg")
    src = tmp_path / "src"
    src.mkdir()
    os.symlink(real, src / "train")  # the dataset's own folder, linked in from other storage
    assert sum(convert(src, tmp_path / "out").images.values()) == 2


def test_a_yolo_list_naming_files_outside_the_dataset_is_refused_before_training(secret, tmp_path, monkeypatch):
    root = tmp_path / "set"
    write_image(root / "images" / "a.jpg", 64, 48, seed=1)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "train.txt").write_text(f"./images/a.jpg\n{secret}\n../elsewhere/secret.jpg\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: train.txt\nval: train.txt\nnames: [defect]\n")
    with pytest.raises(PathsOutside, match="2 paths outside"):
        check_data_yaml(root / "data.yaml")
    r = CliRunner().invoke(main, ["data", "stats", str(root / "data.yaml")])
    assert r.exit_code == 2 and "leave the dataset folder" in r.output
    monkeypatch.setenv(ALLOW_ENV, str(secret.parent))
    assert len(check_data_yaml(root / "data.yaml").split_images("train")[0]) == 2
