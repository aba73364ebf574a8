"""`split_dataset`: ratios, stratification by class presence, near-duplicates kept together, seeds."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.split import parse_ratios, split_dataset
from yolo_transfer.errors import UserError


@pytest.fixture
def make_yolo(image_writer):
    """make(root, n, rare): n distinct train images; class 0 in every image, class 1 also in those listed in `rare`."""
    return lambda root, n, rare: _make_yolo(image_writer, root, n, rare)


def _make_yolo(write_image, root: Path, n: int, rare: set[int]) -> Path:
    for i in range(n):
        write_image(root / "images/train" / f"im{i:03d}.png", 64, 48, seed=1000 + i)
        lines = ["0 0.5 0.5 0.2 0.2"] + (["1 0.3 0.3 0.1 0.1"] if i in rare else [])
        (root / "labels/train").mkdir(parents=True, exist_ok=True)
        (root / "labels/train" / f"im{i:03d}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/train",
                                                    "names": ["common", "rare"]}))
    return root / "data.yaml"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ratios_and_rare_class_are_stratified(make_yolo, tmp_path, seed):
    data = make_yolo(tmp_path / "src", 40, rare={3, 11, 25, 31})
    rep = split_dataset(data, tmp_path / "out", ratios="0.75,0.25", seed=seed, show_progress=False)
    assert rep.images == {"train": 30, "val": 10}
    assert rep.images_with_class["train"]["rare"] == 3 and rep.images_with_class["val"]["rare"] == 1
    for split in ("train", "val"):  # labels travel with their images
        for img in (tmp_path / "out/images" / split).iterdir():
            lab = (tmp_path / "out/labels" / split / f"{img.stem}.txt").read_text()
            assert lab == (tmp_path / "src/labels/train" / f"{img.stem}.txt").read_text()
    assert check_dataset(rep.data_yaml, show_progress=False).ok


def test_near_duplicates_stay_in_one_split(synth_yaml, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(synth_yaml.parent, src)
    train = sorted((src / "images/train").iterdir())[:4]
    for k, img in enumerate(train):  # a slightly brighter re-save of a train image, placed in val
        pix = cv2.imread(str(img)).astype(np.int16) + 4
        cv2.imwrite(str(src / "images/val" / f"copy{k}.png"), np.clip(pix, 0, 255).astype(np.uint8))
        shutil.copyfile(src / "labels/train" / f"{img.stem}.txt", src / "labels/val" / f"copy{k}.txt")
    before = check_dataset(src / "data.yaml", show_progress=False)
    assert len(before.near_duplicates) >= 4
    for seed in range(3):
        out = tmp_path / f"out{seed}"
        rep = split_dataset(src / "data.yaml", out, ratios=(0.5, 0.5), seed=seed, show_progress=False)
        assert rep.duplicate_groups >= 4
        where = {Path(s).name: k.split("/")[0] for k, s in rep.assignment.items()}
        for k, img in enumerate(train):
            assert where[img.name] == where[f"copy{k}.png"]
        assert not check_dataset(rep.data_yaml, show_progress=False).near_duplicates


def test_same_seed_same_split_other_seed_differs(make_yolo, tmp_path):
    data = make_yolo(tmp_path / "src", 30, rare={1, 2, 3})
    a = split_dataset(data, tmp_path / "a", ratios="0.7,0.2,0.1", seed=5, show_progress=False).assignment
    b = split_dataset(data, tmp_path / "b", ratios="0.7,0.2,0.1", seed=5, show_progress=False).assignment
    c = split_dataset(data, tmp_path / "c", ratios="0.7,0.2,0.1", seed=6, show_progress=False).assignment
    assert a == b and a != c
    assert {k.split("/")[0] for k in a} == {"train", "val", "test"}


def test_bad_arguments_are_user_errors(make_yolo, tmp_path):
    for bad in ("0.8", "0.8,0.3", "a,b", "0.5,0.6,-0.1"):
        with pytest.raises(UserError, match="--ratios"):
            parse_ratios(bad)
    data = make_yolo(tmp_path / "src", 4, rare=set())
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="already exists"):
        split_dataset(data, tmp_path / "out")
    with pytest.raises(UserError, match="not found"):
        split_dataset(tmp_path / "nope.yaml", tmp_path / "out2")
