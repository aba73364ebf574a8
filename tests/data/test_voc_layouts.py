"""Pascal VOC as people ship it: each layout built from real BCCD files, detected without --format, every image and
box accounted for."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from yolo_transfer.data.convert import convert, detect_format

STEMS = [f"BloodImage_{k:05d}" for k in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]  # 10 images; 7 "train", 3 "val"


def _boxes(xml: Path) -> int:
    return len(ET.parse(xml).getroot().findall("object"))


def _put(bccd: Path, stem: str, img_dst: Path, xml_dst: Path, filename: str | None = None) -> int:
    img_dst.parent.mkdir(parents=True, exist_ok=True)
    xml_dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bccd / "JPEGImages" / f"{stem}.jpg", img_dst)
    text = (bccd / "Annotations" / f"{stem}.xml").read_text()
    if filename is not None:
        text = re.sub(r"<filename>[^<]*</filename>", f"<filename>{filename}</filename>", text)
    xml_dst.write_text(text)
    return _boxes(xml_dst)


def _steel(bccd, root):  # a public steel-defect set's layout
    n = 0
    for k, stem in enumerate(STEMS):
        img, ann = ("IMAGES", "ANNOTATIONS") if k < 7 else ("Validation_Images", "Validation_Annotations")
        n += _put(bccd, stem, root / img / f"{stem}.jpg", root / ann / f"{stem}.xml")
    return n, {"train": 7, "val": 3}


def _labelimg(bccd, root):  # XML beside each image, one folder
    return sum(_put(bccd, s, root / f"{s}.jpg", root / f"{s}.xml") for s in STEMS), {"train": 10}


def _images_labels_any_case(bccd, root):
    n = 0
    for k, stem in enumerate(STEMS):
        split = "Train" if k < 7 else "VAL"
        n += _put(bccd, stem, root / "Images" / split / f"{stem}.jpg", root / "LABELS" / split / f"{stem}.xml")
    return n, {"train": 7, "val": 3}


def _split_named_pairs(bccd, root):
    n = 0
    for k, stem in enumerate(STEMS):
        split = "train" if k < 7 else "valid"
        n += _put(bccd, stem, root / f"{split}_images" / f"{stem}.jpg", root / f"{split}_annots" / f"{stem}.xml")
    return n, {"train": 7, "val": 3}


def _wrong_filename_ext(bccd, root):  # <filename> says .png, the file is .jpg; plus a stale name
    n = 0
    for k, stem in enumerate(STEMS):
        fname = f"{stem}.png" if k % 2 else "IMG_0001.JPG"
        n += _put(bccd, stem, root / "JPEGImages" / f"{stem}.jpg", root / "Annotations" / f"{stem}.xml", fname)
    return n, {"train": 10}


def _nested(bccd, root):  # sub-folders per acquisition, mirrored under images/ and annotations/
    n = 0
    for k, stem in enumerate(STEMS):
        sub = Path("val" if k >= 7 else "train") / f"patient{k % 2}" / "day1"
        n += _put(bccd, stem, root / "images" / sub / f"{stem}.jpg", root / "annotations" / sub / f"{stem}.xml")
    return n, {"train": 7, "val": 3}


LAYOUTS = {f.__name__[1:]: f for f in (_steel, _labelimg, _images_labels_any_case, _split_named_pairs,
                                       _wrong_filename_ext, _nested)}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_converts_every_image_and_box(layout, bccd_dir, tmp_path):
    src = tmp_path / "src"
    n_boxes, splits = LAYOUTS[layout](bccd_dir, src)
    assert detect_format(src) == "voc"  # no --format needed
    rep = convert(src, tmp_path / "out", show_progress=False)
    assert rep.images == splits
    assert sum(rep.source_boxes.values()) == n_boxes  # every box read ...
    written = sum(rep.written_per_class().values())
    skipped = sum(v for per in rep.skipped_boxes.values() for v in per.values())
    assert written + skipped == n_boxes and skipped == rep.fix_counts.get("duplicate_skipped", 0)  # ... and placed
    assert not any(k.endswith("image_skipped") for k in rep.fix_counts), rep.fix_counts  # every image written
    md = (tmp_path / "out" / "conversion.md").read_text()
    assert f"| train | {splits['train']} |" in md
    if layout == "wrong_filename_ext":
        assert rep.fix_counts["filename_mismatch"] == 10 and "<filename> says 'BloodImage_00001.png'" in md
    if layout == "nested":  # sub-folders below images/<split>/ are kept, so equal names cannot collide
        assert (tmp_path / "out/images/train/patient0/day1/BloodImage_00000.jpg").is_file()


def test_ambiguous_and_missing_images_are_reported_not_guessed(bccd_dir, tmp_path):
    src = tmp_path / "src"
    _put(bccd_dir, STEMS[0], src / "scans_a" / "x.jpg", src / "xml" / f"{STEMS[0]}.xml", "x.jpg")
    (src / "scans_b").mkdir()
    shutil.copyfile(bccd_dir / "JPEGImages" / f"{STEMS[1]}.jpg", src / "scans_b" / "x.jpg")
    _put(bccd_dir, STEMS[2], src / "photos" / f"{STEMS[2]}.jpg", src / "xml" / f"{STEMS[2]}.xml")
    (src / "xml" / "orphan.xml").write_text("<annotation><filename>gone.jpg</filename></annotation>\n")
    rep = convert(src, tmp_path / "out", show_progress=False)
    assert rep.images == {"train": 1}
    kinds = {f.kind: f for f in rep.fixes}
    assert "scans_a/x.jpg" in kinds["ambiguous_image_skipped"].detail and "scans_b/x.jpg" in \
        kinds["ambiguous_image_skipped"].detail
    assert kinds["missing_image_skipped"].file == "xml/orphan.xml"
    assert rep.fix_counts["unannotated_image_skipped"] == 2  # both x.jpg: accounted for, not silently dropped


def test_other_xml_is_not_voc(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.xml").write_text('<?xml version="1.0"?>\n<annotations><meta/></annotations>\n')
    from yolo_transfer.data.voc import VocFormat

    assert not VocFormat().detect(tmp_path / "src")
