import hashlib

from yolo_transfer.data.synth import CLASSES, SynthSpec, make_synthetic_dataset


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_spec_same_bytes_and_every_class_present(tmp_path):
    spec = SynthSpec(train=12, val=4, imgsz=64, seed=3)
    a = make_synthetic_dataset(tmp_path / "a", spec).parent
    b = make_synthetic_dataset(tmp_path / "b", spec).parent
    assert _digest(a) == _digest(b)
    ids = {int(line.split()[0]) for f in (a / "labels").rglob("*.txt") for line in f.read_text().splitlines()}
    assert ids == set(range(len(CLASSES)))
    assert len(list((a / "images" / "train").iterdir())) == 12
    for f in (a / "labels").rglob("*.txt"):
        for line in f.read_text().splitlines():
            xc, yc, w, h = map(float, line.split()[1:])
            assert 0 < w <= 1 and 0 < h <= 1 and 0 <= xc - w / 2 + 1e-6 and xc + w / 2 <= 1 + 1e-6


def test_existing_folder_with_other_settings_is_not_mixed(tmp_path):
    import pytest

    from yolo_transfer.errors import UserError

    make_synthetic_dataset(tmp_path, SynthSpec(train=2, val=1, imgsz=64))
    assert make_synthetic_dataset(tmp_path, SynthSpec(train=2, val=1, imgsz=64)).exists()  # reused
    with pytest.raises(UserError, match="not made with these settings"):
        make_synthetic_dataset(tmp_path, SynthSpec(train=3, val=1, imgsz=64))


def test_source_domain_is_deterministic_with_every_object_kind_and_valid_boxes(tmp_path):
    from yolo_transfer.data.synth import SOURCE_CLASSES, SourceSpec

    spec = SourceSpec(train=24, val=4, imgsz=64, seed=1)
    a = make_synthetic_dataset(tmp_path / "a", spec).parent
    b = make_synthetic_dataset(tmp_path / "b", spec).parent
    assert _digest(a) == _digest(b)
    rows = [line.split() for f in (a / "labels").rglob("*.txt") for line in f.read_text().splitlines()]
    assert {int(r[0]) for r in rows} == set(range(len(SOURCE_CLASSES))) and len(SOURCE_CLASSES) >= 8
    for r in rows:
        xc, yc, w, h = map(float, r[1:])
        assert 0 < w <= 1 and 0 < h <= 1 and xc - w / 2 >= -1e-6 and xc + w / 2 <= 1 + 1e-6
    assert "synth:source" in (a / "manifest.json").read_text()  # another generator: never mixed with the defects


def test_defects_look_like_their_class(tmp_path):
    """Scratches are bright and cracks dark on every surface: the classes differ in look, not only in shape."""
    import cv2
    import numpy as np

    root = make_synthetic_dataset(tmp_path, SynthSpec(train=40, val=1, imgsz=128, seed=5, background_fraction=0)).parent
    signs = {0: [], 2: []}
    for lab in (root / "labels" / "train").glob("*.txt"):
        img = cv2.imread(str(root / "images" / "train" / f"{lab.stem}.png"), cv2.IMREAD_GRAYSCALE).astype(float)
        for line in lab.read_text().splitlines():
            c, xc, yc, w, h = line.split()
            if int(c) not in signs:
                continue
            x1, y1 = int((float(xc) - float(w) / 2) * 128), int((float(yc) - float(h) / 2) * 128)
            x2, y2 = int((float(xc) + float(w) / 2) * 128), int((float(yc) + float(h) / 2) * 128)
            patch = img[y1:y2, x1:x2]
            signs[int(c)].append(np.percentile(patch, 98) - np.median(patch) > np.median(patch) - np.percentile(patch, 2))
    assert len(signs[0]) >= 5 and len(signs[2]) >= 5
    assert np.mean(signs[0]) > 0.7 and np.mean(signs[2]) < 0.3
