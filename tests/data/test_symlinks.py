"""Datasets made of symlinks (`Annotations -> /data/.../ANNOTATIONS`, the usual way to assemble a set on shared
storage without copying): every reader that walks a tree sees through them, and a link loop ends."""

from __future__ import annotations

import shutil

import pytest

from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.convert import convert
from yolo_transfer.data.split import split_dataset
from yolo_transfer.data.stats import dataset_stats
from yolo_transfer.data.yolo_layout import check_data_yaml


def _link(at, to):
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(to, target_is_directory=True)


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_convert_reads_a_source_assembled_from_links(fmt, voc_source, coco_source, tmp_path):
    """`data convert` said "no Pascal VOC annotation files found" (or could not tell the format)."""
    store = voc_source if fmt == "voc" else coco_source
    linked = tmp_path / "linked"
    for sub in sorted(store.iterdir()):  # Annotations + JPEGImages, or the COCO split folder
        _link(linked / sub.name, sub)
    _link(linked / "loop", linked)  # a link back up the tree must not walk forever
    plain = convert(store, tmp_path / "plain", show_progress=False)
    through = convert(linked, tmp_path / "through", show_progress=False)
    assert through.format == plain.format == fmt
    assert (through.images, through.boxes, through.classes) == (plain.images, plain.boxes, plain.classes)
    assert sum(through.images.values()) > 0


def test_check_stats_split_and_train_see_a_yolo_set_made_of_links(synth_yaml, tmp_path):
    src = synth_yaml.parent
    ds = tmp_path / "ds"
    for split in ("train", "val"):  # each split one linked folder down, images and labels alike
        _link(ds / "images" / split / "shared", src / "images" / split)
        _link(ds / "labels" / split / "shared", src / "labels" / split)
    (ds / "data.yaml").write_text(synth_yaml.read_text())
    before = check_dataset(synth_yaml, near_duplicates=False, show_progress=False)
    report = check_dataset(ds / "data.yaml", near_duplicates=False, show_progress=False)
    assert report.ok and report.images == before.images and before.images["train"] > 0
    assert report.instances == before.instances
    stats = dataset_stats(ds / "data.yaml", out=tmp_path / "stats")
    assert {s: v.instances for s, v in stats.splits.items()} == {s: dict(v) for s, v in before.instances.items()}
    split = split_dataset(ds / "data.yaml", tmp_path / "resplit", ratios="0.5,0.5", show_progress=False)
    assert sum(split.images.values()) == sum(before.images.values())
    assert check_data_yaml(ds / "data.yaml").yaml_path == ds / "data.yaml"  # train's own check finds images too
    shutil.rmtree(tmp_path / "resplit")
