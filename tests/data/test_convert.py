"""`convert`: real VOC (BCCD) and COCO (cavity) sets, and small sources that exercise every fixing rule."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from yolo_transfer.data import convert as convert_mod
from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.convert import FORMATS, convert
from yolo_transfer.errors import UserError
from yolo_transfer.utils.hashing import sha256_file


def label_counts(dataset: Path, names: list[str]) -> dict[str, Counter]:
    """Boxes per split and class, read back from the written label files."""
    out = {}
    for split_dir in sorted((dataset / "labels").iterdir()):
        c = Counter()
        for f in split_dir.rglob("*.txt"):
            c.update(names[int(line.split()[0])] for line in f.read_text().splitlines() if line.strip())
        out[split_dir.name] = c
    return out


def test_bccd_counts_match_source_less_reported_skips(bccd_dir, bccd_converted):
    source, zero_area = Counter(), []
    for xml in sorted((bccd_dir / "Annotations").glob("*.xml")):
        for obj in ET.parse(xml).getroot().iter("object"):
            name = obj.findtext("name").strip()
            source[name] += 1
            x1, y1, x2, y2 = (float(obj.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x2 <= x1 or y2 <= y1:
                zero_area.append((xml.stem, name))
    rep = bccd_converted
    assert rep.classes == sorted(source, key=str.lower)  # documented order: names sorted alphabetically
    assert sum(source.values()) == 4888 and len(zero_area) == 2
    written = label_counts(Path(rep.output), rep.classes)
    for name in source:
        skipped = sum(rep.skipped_boxes.get(name, {}).values())
        assert sum(written[s][name] for s in written) == source[name] - skipped
    assert rep.fix_counts == {"zero_area_skipped": 2}
    assert sorted(Path(f.file).stem for f in rep.fixes) == sorted(stem for stem, _ in zero_area)
    assert all(f.line for f in rep.fixes)  # each fix points at the <object> line in its XML


def test_bccd_keeps_imagesets_splits_and_writes_reports(bccd_dir, bccd_converted):
    out = Path(bccd_converted.output)
    for split in ("train", "val", "test"):
        listed = {ln.strip() for ln in (bccd_dir / "ImageSets/Main" / f"{split}.txt").read_text().splitlines() if ln}
        assert {p.stem for p in (out / "images" / split).iterdir()} == listed
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data and data["names"] == dict(enumerate(bccd_converted.classes))
    classes = json.loads((out / "classes.json").read_text())
    assert [c["name"] for c in classes["classes"]] == bccd_converted.classes and classes["order"]
    report = json.loads((out / "conversion.json").read_text())
    assert report["fix_counts"] == bccd_converted.fix_counts
    md = (out / "conversion.md").read_text()
    assert "BloodImage_00338.xml" in md and "zero_area_skipped" in md


def test_bccd_passes_check(bccd_converted):
    report = check_dataset(bccd_converted.data_yaml, show_progress=False)
    assert report.ok, report.to_text()
    assert report.images == {"train": 205, "val": 87, "test": 72}
    assert sum(sum(c.values()) for c in report.instances.values()) == 4888 - 2


def test_bccd_trains_one_epoch(bccd_converted, tmp_path):
    from ultralytics import YOLO

    model = YOLO("yolo11n.yaml")
    model.train(data=str(bccd_converted.data_yaml), epochs=1, imgsz=64, batch=16, fraction=0.1, workers=0,
                device="cpu", plots=False, verbose=False, project=str(tmp_path), name="bccd")
    assert (tmp_path / "bccd" / "weights" / "last.pt").is_file()
    assert model.names == dict(enumerate(bccd_converted.classes))
    validator = model.trainer.validator  # Ultralytics read every val image and every converted box
    assert validator.seen == bccd_converted.images["val"]
    assert int(validator.metrics.nt_per_class.sum()) == sum(bccd_converted.boxes["val"].values())


def test_cavity_converts_with_backgrounds_and_category_order(cavity_dir, cavity_converted):
    rep = cavity_converted
    cats = json.loads((cavity_dir / "train/_annotations.coco.json").read_text())["categories"]
    assert rep.classes == [c["name"] for c in sorted(cats, key=lambda c: c["id"])]
    assert rep.images == {"train": 336, "val": 81, "test": 1}
    assert rep.background_images == {"train": 3, "val": 0, "test": 0}
    empty = [p.stem for p in (Path(rep.output) / "labels/train").iterdir() if p.stat().st_size == 0]
    assert sorted(e.split(".rf.")[0] for e in empty) == ["unhealthy_teeth_222_jpg", "unhealthy_teeth_243_jpg",
                                                         "unhealthy_teeth_244_jpg"]
    assert all(p.is_symlink() for p in (Path(rep.output) / "images/val").iterdir())
    source = Counter()
    for split in ("train", "valid", "test"):
        data = json.loads((cavity_dir / split / "_annotations.coco.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        source.update(names[a["category_id"]] for a in data["annotations"])
    written = label_counts(Path(rep.output), rep.classes)
    for name in rep.classes:
        assert sum(w[name] for w in written.values()) == source[name] - sum(rep.skipped_boxes.get(name, {}).values())


def test_voc_rules(voc_source, tmp_path):
    rep = convert(voc_source, tmp_path / "out", show_progress=False)
    assert rep.classes == ["cat", "dog"]
    assert rep.fix_counts == {"clipped": 1, "zero_area_skipped": 1, "duplicate_skipped": 1, "size_mismatch": 1}
    assert rep.difficult_kept == 1
    labels = tmp_path / "out/labels/train"
    clip = [float(v) for v in (labels / "clip.txt").read_text().split()]
    assert clip[0] == 0 and np.allclose(clip[1:], [0.5, 25 / 80, 1.0, 30 / 80], atol=1e-5)  # clipped to 0..120
    resized = [float(v) for v in (labels / "resized.txt").read_text().split()]
    assert np.allclose(resized[1:], [20 / 120, 20 / 80, 20 / 120, 20 / 80], atol=1e-5)  # real 120x80 size wins
    assert len((labels / "dup.txt").read_text().splitlines()) == 1
    assert len((labels / "hard.txt").read_text().splitlines()) == 1

    dropped = convert(voc_source, tmp_path / "dropped", drop_difficult=True, show_progress=False)
    assert dropped.fix_counts["difficult_dropped"] == 1 and dropped.difficult_kept == 0
    assert (tmp_path / "dropped/labels/train/hard.txt").read_text() == ""


def test_coco_rules(coco_source, tmp_path):
    rep = convert(coco_source, tmp_path / "out", show_progress=False)
    assert rep.classes == ["bolt", "nut"]  # id order 3, 7; the dummy parent category 0 is left out
    assert rep.fix_counts == {"crowd_skipped": 1, "size_mismatch": 1}
    out = tmp_path / "out"
    assert (out / "images/train/sub dir/b c.jpg").is_file()
    assert (out / "labels/train/sub dir/b c.txt").read_text().split()[0] == "1"  # nut, the crowd bolt skipped
    assert (out / "labels/train/empty.txt").read_text() == ""
    assert rep.background_images["train"] == 1
    a = [ln.split() for ln in (out / "labels/train/a.txt").read_text().splitlines()]
    assert [r[0] for r in a] == ["1", "0"]
    assert np.allclose([float(v) for v in a[0][1:]], [20 / 100, 10 / 50, 20 / 100, 10 / 50], atol=1e-5)
    kept = convert(coco_source, tmp_path / "crowd", keep_crowd=True, show_progress=False)
    assert "crowd_skipped" not in kept.fix_counts and kept.written_per_class()["bolt"] == 2


def test_coco_official_layout_and_single_file(coco_maker, tmp_path):
    images = [{"id": 5, "file_name": "000005.jpg", "width": 90, "height": 70}]
    anns = [{"id": 1, "image_id": 5, "category_id": 2, "bbox": [5, 5, 20, 20]}]
    root = coco_maker(tmp_path / "coco2017", images, anns, [{"id": 2, "name": "person"}],
                      json_name="annotations/instances_val2017.json", image_dir="val2017")
    for k, src in enumerate((root, root / "annotations/instances_val2017.json")):
        rep = convert(src, tmp_path / f"out{k}", show_progress=False)
        assert rep.images == {"val": 1} and rep.classes == ["person"]
        assert "no training split" in rep.warnings[0]
        assert (tmp_path / f"out{k}/labels/val/000005.txt").read_text().startswith("0 ")


def test_broken_voc_xml_is_skipped_with_its_line(voc_source, tmp_path):
    (voc_source / "Annotations/broken.xml").write_text("<annotation>\n  <object>\n    <name>dog</nam>\n")
    rep = convert(voc_source, tmp_path / "out", show_progress=False)
    [fix] = [f for f in rep.fixes if f.kind == "unreadable_annotation_skipped"]
    assert (fix.file, fix.line) == ("Annotations/broken.xml", 3)
    assert rep.images == {"train": 6}


def test_explicit_classes_set_order_and_skip_others(voc_source, tmp_path):
    rep = convert(voc_source, tmp_path / "out", classes=["dog"], show_progress=False)
    assert rep.classes == ["dog"]
    assert rep.fix_counts["unlisted_class_skipped"] == 4  # every cat box, the duplicate included
    assert yaml.safe_load((tmp_path / "out/data.yaml").read_text())["names"] == {0: "dog"}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_converts_cleanly_and_leaves_source_alone(fmt, request, tmp_path):
    src = request.getfixturevalue(f"{fmt}_source")
    before = {p: sha256_file(p) for p in src.rglob("*") if p.is_file()}
    rep = convert(src, tmp_path / "out", show_progress=False)
    assert rep.format == fmt
    assert {p: sha256_file(p) for p in src.rglob("*") if p.is_file()} == before
    assert check_dataset(rep.data_yaml, show_progress=False).ok
    assert rep.warnings  # neither small source has a val split: the report must say data.yaml validates on train
    with pytest.raises(UserError, match="already exists"):
        convert(src, tmp_path / "out", show_progress=False)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_interrupted_conversion_leaves_nothing_that_looks_complete(fmt, request, tmp_path, monkeypatch):
    src = request.getfixturevalue(f"{fmt}_source")
    calls = []

    def flaky_size(path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_size(path)

    real_size = convert_mod.image_size
    monkeypatch.setattr(convert_mod, "image_size", flaky_size)
    with pytest.raises(KeyboardInterrupt):
        convert(src, tmp_path / "dest" / "out", show_progress=False)
    assert list((tmp_path / "dest").iterdir()) == []  # no output, no leftover partial folder


def test_bad_source_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        convert(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot tell the annotation format"):
        convert(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(UserError, match="unknown format"):
        convert(tmp_path / "empty", tmp_path / "out", fmt="yolo9000")
