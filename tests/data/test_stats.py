"""`dataset_stats`: numbers agree with the labels, and the table and plots are written."""

from __future__ import annotations

import json
from collections import Counter

import cv2

from yolo_transfer.data.stats import dataset_stats


def test_bccd_stats_agree_with_conversion(bccd_converted, tmp_path):
    rep = dataset_stats(bccd_converted.data_yaml, out=tmp_path / "stats", show_progress=False)
    for split, per_class in bccd_converted.boxes.items():
        assert rep.splits[split].instances == per_class
        assert rep.splits[split].images == bccd_converted.images[split]
        assert rep.splits[split].image_sizes == {"640x480": bccd_converted.images[split]}  # all BCCD is 640x480
        bpi = rep.splits[split].boxes_per_image
        assert 1 <= bpi["min"] <= bpi["median"] <= bpi["max"] <= 30  # PROVENANCE: 1 to 30 objects per image
        assert sum(rep.splits[split].box_size_px.values()) == sum(per_class.values())
    table = rep.to_text()
    assert all(c in table for c in bccd_converted.classes) and str(bccd_converted.boxes["train"]["RBC"]) in table
    for png in rep.plots:
        img = cv2.imread(png)
        assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert {p.split("/")[-1] for p in rep.plots} == {"class_instances.png", "boxes_per_image.png", "box_sizes.png",
                                                     "image_sizes.png"}
    saved = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert saved["splits"]["val"]["instances"] == bccd_converted.boxes["val"]
    assert "![class_instances]" in (tmp_path / "stats" / "stats.md").read_text()


def test_synthetic_counts_match_label_files(synth_yaml):
    rep = dataset_stats(synth_yaml, show_progress=False)
    for split in ("train", "val"):
        lines = [ln for f in (synth_yaml.parent / "labels" / split).iterdir() for ln in f.read_text().splitlines()]
        counts = Counter(int(ln.split()[0]) for ln in lines)
        assert rep.splits[split].instances == {n: counts[i] for i, n in enumerate(rep.names)}
        empty = sum(1 for f in (synth_yaml.parent / "labels" / split).iterdir() if not f.read_text().strip())
        assert rep.splits[split].background_images == empty
    assert rep.plots == []  # nothing written without `out`
