"""One writer per output folder: a second run is refused naming the first, waits with --wait, and a dead holder
never blocks (the kernel drops an flock with its process)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.utils.lock import LOCK_NAME, folder_lock


def test_a_second_writer_is_refused_naming_the_first(tmp_path, hold_folder):
    out = tmp_path / "out"
    child = hold_folder(out)
    with pytest.raises(UserError) as e:
        with folder_lock(out, "predict", other="use another --out"):
            pytest.fail("two writers in one folder")
    msg = str(e.value)
    assert f"{out} is being written by pid {child.pid} (yolo-transfer predict, since " in msg
    assert msg.endswith("wait for it, use another --out, or add --wait") and "\n" not in msg
    assert e.value.exit_code == 2


def test_wait_goes_on_when_the_holder_is_done(tmp_path, hold_folder, capfd):
    out = tmp_path / "out"
    child = hold_folder(out, seconds=1.5)
    t0 = time.monotonic()
    with folder_lock(out, "predict", wait=True):
        assert time.monotonic() - t0 > 1.0  # it got the folder only once the other had finished with it
        note = json.loads((out / LOCK_NAME).read_text())
        assert note["pid"] == os.getpid() and note["command"] == "yolo-transfer predict"
    assert f"being written by pid {child.pid}" in capfd.readouterr().err  # one line says what it waits for


def test_a_killed_holder_is_taken_over_at_once(tmp_path, hold_folder):
    out = tmp_path / "out"
    child = hold_folder(out)
    child.send_signal(signal.SIGKILL)  # no cleanup ran: its lock file (with its pid) stays behind
    child.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == child.pid
    with folder_lock(out, "compare"):
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (out / LOCK_NAME).exists()  # released: nothing left in the user's folder


def test_nested_in_one_process_and_no_trace_when_nothing_was_written(tmp_path):
    out = tmp_path / "new" / "out"
    with folder_lock(out, "compare"):
        with folder_lock(out, "train"):  # compare holds its folder while each trial locks its own: no self-refusal
            assert (out / LOCK_NAME).exists()
        assert (out / LOCK_NAME).exists()  # the inner block did not release the outer hold
    assert not out.exists()  # made for this run, left empty: removed (a refused or failed run leaves nothing)
    kept = tmp_path / "kept"
    with folder_lock(kept, "predict"):
        (kept / "result.txt").write_text("x")
    assert sorted(p.name for p in kept.iterdir()) == ["result.txt"]


def test_a_dead_users_lock_in_a_sticky_folder_is_taken_not_a_traceback(tmp_path, monkeypatch):
    """Another user's lock file left in a sticky folder (/tmp): we can neither open it for writing nor remove it.
    Nobody holds its lock, so it is ours; before, the unlink's PermissionError came out as a traceback."""
    from yolo_transfer.utils import lock

    (tmp_path / lock.LOCK_NAME).write_text("{}\n")
    real_open, real_unlink = os.open, os.unlink

    def open_(path, flags, *a):
        if str(path).endswith(lock.LOCK_NAME) and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a)

    def unlink(path, *a, **k):
        if str(path).endswith(lock.LOCK_NAME):
            raise PermissionError(1, "Operation not permitted")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(lock.os, "open", open_)
    monkeypatch.setattr(lock.os, "unlink", unlink)
    with lock.folder_lock(tmp_path, "predict") as held:
        assert held == tmp_path
