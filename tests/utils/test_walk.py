"""`walk_files`: through symlinked folders (how datasets are assembled on shared storage), each real folder once."""

from __future__ import annotations

import os

from yolo_transfer.utils.walk import walk_files


def _rel(paths, root):
    return [os.path.relpath(p, root) for p in paths]


def test_follows_linked_folders_and_stops_at_loops(tmp_path):
    store = tmp_path / "store" / "IMAGES"
    (store / "sub").mkdir(parents=True)
    (store / "a.jpg").write_bytes(b"a")
    (store / "sub" / "b.jpg").write_bytes(b"b")
    (store / "sub" / "up").symlink_to(store, target_is_directory=True)  # a loop: back up the tree
    root = tmp_path / "set"
    root.mkdir()
    (root / "JPEGImages").symlink_to(store, target_is_directory=True)
    (root / "self").symlink_to(root, target_is_directory=True)  # another loop
    (root / "note.txt").write_text("x")
    (root / "dangling").symlink_to(tmp_path / "gone")  # a broken link is no file
    assert _rel(walk_files(root), root) == ["note.txt", "JPEGImages/a.jpg", "JPEGImages/sub/b.jpg"]
    assert _rel(walk_files(root, "*.jpg"), root) == ["JPEGImages/a.jpg", "JPEGImages/sub/b.jpg"]
    assert list(root.rglob("*.jpg")) == []  # what every reader used, and why they found nothing


def test_a_folder_there_and_linked_is_listed_once_under_its_own_path(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "x.png").write_bytes(b"x")
    (tmp_path / "alias").symlink_to(tmp_path / "train", target_is_directory=True)  # sorts before "train"
    assert _rel(walk_files(tmp_path), tmp_path) == ["train/x.png"]
