import os
import stat

import pytest

from yolo_transfer.utils.io import atomic_dir, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = tmp_path / "out" / "report.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}") and '"a": 2' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp files left


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "old")

    class Boom:
        def encode(self, _):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write_text(target, Boom())
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_atomic_dir_appears_only_when_complete(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "ds") as tmp:
            (tmp / "half.txt").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "ds") as tmp:
        (tmp / "whole.txt").write_text("x")
    assert (tmp_path / "ds" / "whole.txt").exists()
    assert stat.S_IMODE((tmp_path / "ds").stat().st_mode) == 0o777 & ~_umask()


def test_write_errors_name_what_was_asked_for_not_a_temporary_name(tmp_path, monkeypatch):
    """The CLI turns a disk's OSError into one line naming its file: `.out.partial-x7k2` or no name at all (a full
    disk fails `write()`) told the user nothing; the output they gave, or the file inside it, does."""
    import errno
    import tempfile

    out = tmp_path / "dataset"
    with pytest.raises(OSError) as e:
        with atomic_dir(out) as tmp:
            (tmp / "images").mkdir()
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "images" / "a.jpg"))
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(out / "images" / "a.jpg")
    with pytest.raises(OSError) as e:
        with atomic_dir(out):
            raise OSError(errno.EACCES, "Permission denied", str(tmp_path / "source.jpg"))  # reading a source
    assert e.value.filename == str(tmp_path / "source.jpg")  # keeps its own name
    assert list(tmp_path.iterdir()) == []

    def read_only(prefix="", suffix="", dir=None):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(dir, prefix + "x7k2" + suffix))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(OSError) as e:
        with atomic_dir(out):
            pass
    assert e.value.errno == errno.EROFS and e.value.filename == str(out)
    monkeypatch.undo()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")  # a full disk fails the flush: no file name

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as e:
        atomic_write_text(tmp_path / "summary.json", "{}")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "summary.json")
    assert list(tmp_path.iterdir()) == []


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m
