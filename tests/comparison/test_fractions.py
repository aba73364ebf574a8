"""Nested subsets for `compare --fractions`: the image lists must let Ultralytics find every label."""

from __future__ import annotations

from pathlib import Path

import yaml
from ultralytics.data.utils import img2label_paths

from yolo_transfer.comparison.fractions import data_for, subset
from yolo_transfer.data.yolo_layout import load_data_yaml


def _linked_dataset(tmp_path: Path, n: int = 10) -> Path:
    """A dataset as `data convert --link` writes it: images are symlinks into a folder with no labels beside it."""
    src = tmp_path / "source"
    src.mkdir()
    ds = tmp_path / "ds"
    for split in ("train", "val"):
        (ds / "images" / split).mkdir(parents=True)
        (ds / "labels" / split).mkdir(parents=True)
        for i in range(n):
            real = src / f"{split}_{i}.jpg"
            real.write_bytes(b"\xff\xd8\xff\xe0 not decoded here")
            (ds / "images" / split / real.name).symlink_to(real)
            (ds / "labels" / split / f"{real.stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (ds / "data.yaml").write_text(yaml.safe_dump({"path": str(ds), "train": "images/train", "val": "images/val",
                                                  "names": {0: "defect"}}))
    return ds / "data.yaml"


def test_subset_of_linked_dataset_keeps_labels_findable(tmp_path):
    spec = load_data_yaml(_linked_dataset(tmp_path))
    out = data_for(spec, 0.5, 0, tmp_path / "subsets")
    doc = yaml.safe_load(out.read_text())
    listed = Path(doc["train"]).read_text().splitlines()
    assert len(listed) == 5
    # Ultralytics' own rule: the label of images/x.jpg is labels/x.txt in the path it is given (symlinks not followed)
    assert all(Path(lab).is_file() for lab in img2label_paths(listed)), listed[:2]


def test_subsets_are_nested_and_seeded():
    images = [Path(f"/d/images/{i}.jpg") for i in range(20)]
    assert subset(images, 0.25, 0) == subset(images, 0.5, 0)[:5]
    assert subset(images, 0.5, 0) == subset(images, 0.5, 0)
    assert subset(images, 0.5, 0) != subset(images, 0.5, 1)
