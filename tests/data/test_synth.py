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
