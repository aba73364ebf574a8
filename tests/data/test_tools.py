"""Labelling-tool exports (LabelMe JSON, CVAT XML via globox) and Roboflow's YOLO folders, built from BCCD files."""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.convert import convert, detect_format
from yolo_transfer.errors import UserError

STEMS = [f"BloodImage_{k:05d}" for k in range(8)]


def _objects(bccd: Path, stem: str) -> list[tuple[str, list[float]]]:
    root = ET.parse(bccd / "Annotations" / f"{stem}.xml").getroot()
    keys = ("xmin", "ymin", "xmax", "ymax")
    return [(o.findtext("name").strip(), [float(o.find("bndbox").findtext(k)) for k in keys])
            for o in root.findall("object")]


def _labelme(bccd: Path, root: Path) -> int:
    n = 0
    for k, stem in enumerate(STEMS):
        folder = root / ("train" if k < 6 else "val")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bccd / "JPEGImages" / f"{stem}.jpg", folder / f"{stem}.jpg")
        objs = _objects(bccd, stem)
        shapes = [{"label": name, "points": [[x1, y1], [x2, y2]], "shape_type": "rectangle"} for name, (x1, y1, x2, y2)
                  in objs]
        if k == 0:  # a polygon: converted to its bounding box
            shapes.append({"label": "WBC", "points": [[10, 10], [40, 12], [30, 50]], "shape_type": "polygon"})
            n += 1
        (folder / f"{stem}.json").write_text(json.dumps({"version": "5.2.1", "shapes": shapes, "imagePath":
                                                         f"{stem}.jpg", "imageData": None, "imageHeight": 480,
                                                         "imageWidth": 640}))
        n += len(objs)
    return n


def _cvat(bccd: Path, root: Path) -> int:
    ann = ET.Element("annotations")
    ET.SubElement(ann, "version").text = "1.1"
    n = 0
    for k, stem in enumerate(STEMS):
        (root / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bccd / "JPEGImages" / f"{stem}.jpg", root / "images" / f"{stem}.jpg")
        img = ET.SubElement(ann, "image", id=str(k), name=f"{stem}.jpg", width="640", height="480")
        for name, (x1, y1, x2, y2) in _objects(bccd, stem):
            ET.SubElement(img, "box", label=name, xtl=str(x1), ytl=str(y1), xbr=str(x2), ybr=str(y2), occluded="0")
            n += 1
    ET.ElementTree(ann).write(root / "annotations.xml", xml_declaration=True, encoding="utf-8")
    return n


@pytest.mark.parametrize("fmt, build, splits", [("labelme", _labelme, {"train": 6, "val": 2}),
                                                ("cvat", _cvat, {"train": 8})])
def test_tool_exports_convert_every_box(fmt, build, splits, bccd_dir, tmp_path):
    pytest.importorskip("globox")
    src = tmp_path / "src"
    n = build(bccd_dir, src)
    assert detect_format(src) == fmt
    rep = convert(src, tmp_path / "out", show_progress=False)
    assert rep.format == fmt and rep.images == splits
    assert sum(rep.source_boxes.values()) == n
    skipped = sum(v for per in rep.skipped_boxes.values() for v in per.values())
    assert sum(rep.written_per_class().values()) + skipped == n and set(rep.classes) == {"Platelets", "RBC", "WBC"}
    assert check_dataset(rep.data_yaml, show_progress=False).ok


def test_missing_globox_is_one_line(bccd_dir, tmp_path, monkeypatch):
    _cvat(bccd_dir, tmp_path / "src")
    monkeypatch.setitem(sys.modules, "globox", None)  # as if not installed
    with pytest.raises(UserError, match=r"needs the globox package.*pip install globox"):
        convert(tmp_path / "src", tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


def test_roboflow_yolo_folder_checks_as_is(bccd_converted, tmp_path):
    """Roboflow's YOLO export: train/valid/test each with images/ and labels/, data.yaml with ../train/images."""
    src = Path(bccd_converted.output)
    rf = tmp_path / "roboflow"
    for ours, theirs in (("train", "train"), ("val", "valid"), ("test", "test")):
        for kind in ("images", "labels"):
            if (src / kind / ours).is_dir():
                shutil.copytree(src / kind / ours, rf / theirs / kind)
    (rf / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 3\n"
                                  "names: ['Platelets', 'RBC', 'WBC']\n\nroboflow:\n  workspace: x\n")
    report = check_dataset(rf, near_duplicates=False, show_progress=False)  # the folder is enough
    assert report.ok and report.images == bccd_converted.images
    assert sum(report.instances["train"].values()) == sum(bccd_converted.boxes["train"].values())


@pytest.mark.parametrize("fmt, boxes", [("labelme", {"cat": 1, "dog": 2}), ("cvat", {"bolt": 2, "nut": 1})])
def test_tool_exports_get_the_same_fixes_as_voc_and_coco(fmt, boxes, request, tmp_path):
    pytest.importorskip("globox")
    rep = convert(request.getfixturevalue(f"{fmt}_source"), tmp_path / "out", show_progress=False)
    assert rep.written_per_class() == boxes and rep.fix_counts == {"clipped": 1}
    assert rep.background_images == {"train": 1}
    lines = {p.stem: p.read_text().split("\n")[:-1] for p in (tmp_path / "out/labels/train").iterdir()}
    if fmt == "labelme":  # the polygon (20,5) (60,30) (30,70) became its bounding box in a 120x80 image
        assert "0 0.333333 0.468750 0.333333 0.812500" in lines["b"]


def test_shapes_that_are_not_boxes_are_counted(labelme_source, cvat_source, tmp_path):
    pytest.importorskip("globox")
    js = labelme_source / "c.json"
    data = json.loads(js.read_text())
    data["shapes"] = [{"label": "dog", "points": [[5, 5]], "shape_type": "point"}]
    js.write_text(json.dumps(data))
    rep = convert(labelme_source, tmp_path / "a", show_progress=False)
    assert rep.fix_counts["unsupported_shape_skipped"] == 1 and rep.background_images == {"train": 1}
    xml = cvat_source / "annotations.xml"
    xml.write_text(xml.read_text().replace('<image id="2" name="c.jpg" width="120" height="80" />',
                                           '<image id="2" name="c.jpg" width="120" height="80"><polygon label="nut" '
                                           'points="1,1;5,5;1,5" /></image>'))
    rep = convert(cvat_source, tmp_path / "b", show_progress=False)
    assert rep.fix_counts["unsupported_shape_skipped"] == 1


def test_one_annotation_file_per_image_and_hidden_folders_ignored(labelme_source, cvat_source, tmp_path):
    """Two LabelMe files for one image (a copy left by the tool) convert the image once and say so; a hidden folder
    (.backup, .git) is not read at all, as with VOC. The same for CVAT: a second XML naming the same images."""
    pytest.importorskip("globox")
    copy = json.loads((labelme_source / "a.json").read_text())
    (labelme_source / "a_copy.json").write_text(json.dumps(copy))
    (labelme_source / ".backup").mkdir()
    (labelme_source / ".backup" / "b.json").write_text((labelme_source / "b.json").read_text())
    rep = convert(labelme_source, tmp_path / "a", show_progress=False)
    assert rep.fix_counts.get("duplicate_annotation_skipped") == 1, rep.fix_counts
    assert rep.written_per_class() == {"cat": 1, "dog": 2}  # a's dog once, b's cat and dog; .backup not read
    assert sorted(p.name for p in (tmp_path / "a/images/train").iterdir()) == ["a.jpg", "b.jpg", "c.jpg"]

    (cvat_source / "again.xml").write_text((cvat_source / "annotations.xml").read_text())
    rep = convert(cvat_source, tmp_path / "b", show_progress=False)
    assert rep.fix_counts.get("duplicate_annotation_skipped") == 3, rep.fix_counts
    assert sum(rep.written_per_class().values()) == 3
