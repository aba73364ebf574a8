"""SOURCE expansion: folders (recursive), globs, list files and single images, in a deterministic order."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imageread import BadImage, read_image
from yolo_transfer.inference.sources import list_images


@pytest.fixture
def tree(tmp_path):
    img = np.full((8, 8, 3), 200, np.uint8)
    for rel in ["b.png", "a.JPG", "sub/c.bmp", "sub/deeper/d.tif", "sub/e.webp", "sub/f.tiff", "g.jpeg"]:
        p = tmp_path / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        _, buf = cv2.imencode(os.path.splitext(rel)[1].lower(), img)
        p.write_bytes(buf.tobytes())
    (tmp_path / "src" / "readme.txt").write_text("not an image")
    (tmp_path / "src" / "labels.json").write_text("{}")
    return tmp_path / "src"


def test_folder_is_recursive_sorted_and_skips_non_images(tree):
    refs = list_images(tree)
    assert [r.rel for r in refs] == ["a.JPG", "b.png", "g.jpeg", "sub/c.bmp", "sub/deeper/d.tif", "sub/e.webp",
                                     "sub/f.tiff"]
    assert all(os.path.isabs(r.path) for r in refs)
    for r in refs:  # every listed suffix decodes
        assert read_image(r.path).shape == (8, 8, 3)


def test_a_folder_assembled_from_links_is_read_through_them(tree, tmp_path):
    """A SOURCE whose subfolders are symlinks (shared storage, nothing copied) held "no images"; a loop ends."""
    src = tmp_path / "linked"
    src.mkdir()
    (src / "cam1").symlink_to(tree / "sub", target_is_directory=True)
    (src / "cam1" / "deeper" / "up").symlink_to(tree, target_is_directory=True)  # a loop through the store
    (src / "a.png").symlink_to(tree / "b.png")
    refs = list_images(src)
    assert [r.rel for r in refs] == ["a.png", "cam1/c.bmp", "cam1/deeper/d.tif", "cam1/deeper/up/a.JPG",
                                     "cam1/deeper/up/b.png", "cam1/deeper/up/g.jpeg", "cam1/e.webp", "cam1/f.tiff"]
    looped = list_images(str(src / "**" / "*.png"))  # glob follows links too, round a loop as deep as the OS lets it
    assert [r.rel for r in looped] == ["a.png", "cam1/deeper/up/b.png"]  # each file once, by its shortest path


def test_glob_list_file_and_single_image(tree, tmp_path, monkeypatch):
    assert [r.rel for r in list_images(str(tree / "sub" / "*.*"))] == ["c.bmp", "e.webp", "f.tiff"]
    assert len(list_images(str(tree / "**" / "*.tif*"))) == 2
    listing = tree / "list.txt"
    listing.write_text("# chosen images\nsub/c.bmp\n\n" + str(tree / "b.png") + "\nmissing.png\n")
    refs = list_images(listing)
    # Relative lines resolve against the list file; a missing file stays listed (it reaches errors.jsonl).
    assert [os.path.basename(r.path) for r in refs] == ["b.png", "missing.png", "c.bmp"]
    one = list_images(tree / "b.png")
    assert len(one) == 1 and one[0].rel == "b.png"
    monkeypatch.chdir(tree)
    assert list_images("sub")[0].path == str(tree / "sub" / "c.bmp")  # relative SOURCE -> absolute keys


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "nope", "does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no images"),
    (lambda p: (p / "x.json").write_text("{}") and p / "x.json", "neither an image"),
    (lambda p: str(p / "*.png"), "matches no images"),
    (lambda p: (p / "l.txt").write_text("a.csv\n") and p / "l.txt", "is not an image path"),
])
def test_bad_sources_raise_one_line_user_errors(tmp_path, make, match):
    with pytest.raises(UserError, match=match) as e:
        list_images(make(tmp_path))
    assert "\n" not in str(e.value)


def test_read_image_reasons(tmp_path):
    _, buf = cv2.imencode(".jpg", np.full((32, 32, 3), 90, np.uint8))
    data = buf.tobytes()
    (tmp_path / "ok.jpg").write_bytes(data + b"\x00" * 100)  # padding after the end marker is fine
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) - 40])
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    assert read_image(str(tmp_path / "ok.jpg")).shape == (32, 32, 3)
    for name, reason in [("cut.jpg", "truncated JPEG"), ("zero.png", "empty file"), ("text.png", "not a decodable"),
                         ("absent.png", "cannot read file")]:
        with pytest.raises(BadImage, match=reason):
            read_image(str(tmp_path / name))
