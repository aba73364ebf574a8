"""`check_dataset`: clean sets pass, broken copies are reported with file:line, leakage across splits is found."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest
import yaml

from yolo_transfer.data.check import check_dataset


@pytest.fixture
def mini_bccd(bccd_converted, tmp_path, monkeypatch) -> Path:
    """A 6-train / 3-val copy of converted BCCD (real JPEGs and labels) to break in tests."""
    src = Path(bccd_converted.output)
    root = tmp_path / "mini"
    for split, n in (("train", 6), ("val", 3)):
        for img in sorted((src / "images" / split).iterdir())[:n]:
            for kind, name in (("images", img.name), ("labels", img.stem + ".txt")):
                (root / kind / split).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / kind / split / name, root / kind / split / name)
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val",
                                                    "names": {0: "Platelets", 1: "RBC", 2: "WBC"}}))
    monkeypatch.chdir(root)  # messages use paths relative to the working directory
    return root


def _set_line(path: Path, lineno: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_clean_copy_passes(mini_bccd):
    report = check_dataset(mini_bccd / "data.yaml", show_progress=False)
    assert report.ok and not report.errors, report.to_text()
    assert report.images == {"train": 6, "val": 3}


def test_broken_copies_are_each_reported_with_file_and_line(mini_bccd):
    labels = sorted((mini_bccd / "labels/train").iterdir())
    images = sorted((mini_bccd / "images/train").iterdir())
    jpeg = images[0]
    jpeg.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])  # truncated JPEG
    _set_line(labels[1], 2, "1 0.5 0.5 0.1")  # 4 fields
    _set_line(labels[2], 3, "7 0.5 0.5 0.1 0.1")  # class id out of range (3 classes)
    labels[3].write_text("")  # empty label file
    _set_line(labels[4], 1, "1 0.5 abc 0.1 0.1")  # not a number
    _set_line(labels[5], 2, "2 1.5 0.5 0.1 0.1")  # coordinate outside [0, 1]

    report = check_dataset(mini_bccd / "data.yaml", show_progress=False)
    assert not report.ok
    found = {(i.code, i.file, i.line) for i in report.issues}
    rel = functools.partial(os.path.relpath, start=mini_bccd)
    assert ("image", rel(jpeg), None) in found
    assert ("field-count", rel(labels[1]), 2) in found
    assert ("class-id", rel(labels[2]), 3) in found
    assert ("empty-label", rel(labels[3]), 1) in found
    assert ("not-a-number", rel(labels[4]), 1) in found
    assert ("coordinates", rel(labels[5]), 2) in found
    assert len(report.errors) == 5  # exactly the five broken things; the empty file is only a warning
    text = report.to_text()
    assert f"{rel(labels[1])}:2: error[field-count]" in text and "truncated" in text


def test_missing_folder_points_at_the_yaml_line(mini_bccd):
    (mini_bccd / "data.yaml").write_text("names: [a, b, c]\ntrain: images/train\nval: images/nowhere\n")
    report = check_dataset(mini_bccd / "data.yaml", show_progress=False)
    [err] = report.errors
    assert (err.code, err.file, err.line) == ("missing-folder", "data.yaml", 3)


def test_warnings_for_duplicates_missing_labels_tiny_boxes_and_classes(mini_bccd):
    labels = sorted((mini_bccd / "labels/train").iterdir())
    for lab in labels:  # take WBC (class 2) out of train entirely
        lab.write_text("".join(f"{ln}\n" for ln in lab.read_text().splitlines() if not ln.startswith("2 ")))
    first = labels[0].read_text().splitlines()[0]
    labels[0].write_text(labels[0].read_text() + first + "\n")
    _set_line(labels[2], 1, "1 0.5 0.5 0.001 0.2")
    labels[1].unlink()
    report = check_dataset(mini_bccd / "data.yaml", show_progress=False)
    assert report.ok
    found = {(w.code, w.file, w.line) for w in report.warnings}
    rel = functools.partial(os.path.relpath, start=mini_bccd)
    assert ("duplicate-box", rel(labels[0]), len(labels[0].read_text().splitlines())) in found
    assert ("tiny-box", rel(labels[2]), 1) in found
    assert ("no-label", rel(mini_bccd / "images/train" / f"{labels[1].stem}.jpg"), None) in found
    names_line = (mini_bccd / "data.yaml").read_text().splitlines().index("names:") + 1
    assert ("class-absent", "data.yaml", names_line) in found  # points at the `names:` line
    rbc, platelets = report.instances["train"]["RBC"], report.instances["train"]["Platelets"]
    assert (("class-imbalance", "data.yaml", names_line) in found) == (rbc >= 10 * platelets > 0)


def test_synthetic_dataset_passes(synth_yaml):
    report = check_dataset(synth_yaml, show_progress=False)
    assert report.ok, report.to_text()
    assert report.images == {"train": 16, "val": 8}
    assert not report.near_duplicates


def test_cavity_cross_split_near_duplicates_are_reported(cavity_converted):
    report = check_dataset(cavity_converted.data_yaml, show_progress=False)
    assert report.ok
    pairs = {(Path(d.a).name.split(".rf.")[0] + ".rf." + Path(d.a).name.split(".rf.")[1][:4],
              Path(d.b).name.split(".rf.")[0] + ".rf." + Path(d.b).name.split(".rf.")[1][:4])
             for d in report.near_duplicates}
    # the examples PROVENANCE.md lists (found there with a different method: thumbnail mean abs. difference)
    listed = {("unhealthy_teeth_69_jpg.rf.e3a4", "unhealthy_teeth_165_jpg.rf.4219"),
              ("unhealthy_teeth_52_jpg.rf.185d", "unhealthy_teeth_159_jpg.rf.d8db"),
              ("healthy_teeth_181_jpg.rf.9a0b", "healthy_teeth_325_jpg.rf.9322"),
              ("healthy_teeth_58_jpg.rf.181b", "healthy_teeth_346_jpg.rf.19a4"),
              ("unhealthy_teeth_286_jpg.rf.b795", "unhealthy_teeth_296_jpg.rf.2190")}
    assert listed <= pairs
    # PROVENANCE counts 22 train<->valid pairs; the hash proposes more, and detail similarity rejects the rest
    assert len(report.near_duplicates) == 22 and report.near_duplicate_candidates >= 22
    assert min(d.similarity for d in report.near_duplicates) >= 0.95
    assert all(d.split_a != d.split_b for d in report.near_duplicates)
    warned = [w for w in report.warnings if w.code == "near-duplicate"]
    assert len(warned) == len(report.near_duplicates)


def test_yaml_with_path_key_and_bad_names(mini_bccd, tmp_path):
    elsewhere = tmp_path / "configs" / "mini.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f"path: {mini_bccd}\ntrain: images/train\nval: images/val\nnames: [a, b, c]\n")
    assert check_dataset(elsewhere, show_progress=False).images == {"train": 6, "val": 3}
    elsewhere.write_text(f"path: {mini_bccd}\ntrain: images/train\nval: images/val\nnames:\n  0: a\n  2: c\n")
    report = check_dataset(elsewhere, show_progress=False)
    assert [(e.code, e.line) for e in report.errors if e.code == "data-yaml"] == [("data-yaml", 4)]


def test_bccd_flags_only_its_refocused_pair(bccd_converted):
    report = check_dataset(bccd_converted.data_yaml, show_progress=False)
    assert [(Path(d.a).name, Path(d.b).name) for d in report.near_duplicates] == [
        ("BloodImage_00038.jpg", "BloodImage_00037.jpg")]  # train 00038 <-> val 00037: the same field refocused
