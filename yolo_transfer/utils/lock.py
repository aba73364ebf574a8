"""One writer per output folder: `folder_lock(folder, command)` around everything a command writes into a folder it
may resume (predict's `--out`, a compare folder, a run or auto folder being resumed or trained).

Two processes writing one folder interleave their files and double their counts, so the second is refused with one
line naming the first (pid, command, start time), or waits for it (`wait=True`, the CLI's `--wait`). The lock is an
`flock` on `<folder>/.yolo-transfer.lock`, which the kernel drops however its holder dies (Ctrl-C, SIGKILL, the OOM
killer), so a dead holder never blocks the next run. The holder writes who it is into the file for the refusal to
quote and removes the file when done (a waiter that locked the removed file sees that and tries again). Nested locks
of one folder in one process are free (compare holds its folder while each trial locks its own run folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from yolo_transfer.errors import UserError

LOCK_NAME = ".yolo-transfer.lock"
POLL_SECONDS = 0.5  # how often `wait=True` tries again

_HELD: dict[str, int] = {}  # folders this process holds, by real path -> nesting depth


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_info(fd: int) -> dict:
    """The holder's note; {} while it has not written it yet (or wrote something else)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict) -> str:
    """`pid 1234 (yolo-transfer predict, since 12:03:04)`, with the host when it is another machine's."""
    if not info.get("pid"):
        return "another process"
    since = info.get("since", "")
    day, _, clock = since.partition("T")
    when = clock[:8] if day == time.strftime("%Y-%m-%d") else since[:19].replace("T", " ")
    host = f" on {info['host']}" if info.get("host") and info["host"] != socket.gethostname() else ""
    return f"pid {info['pid']}{host} ({info.get('command', 'yolo-transfer')}, since {when})"


def _open_locked(path: Path) -> tuple[int | None, dict]:
    """(fd holding the lock on the file now at `path`, {}) or (None, the holder's note)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file (shared storage): theirs if they still run, else stale
        fd = os.open(path, os.O_RDONLY)
        if _try_lock(fd):  # nobody holds it: left by a run that died; replace it with one of our own
            try:
                os.unlink(path)
            except PermissionError:  # a sticky folder (/tmp) keeps the file theirs; the lock on it is ours
                return fd, {}
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            return None, {}
    if not _try_lock(fd):
        info = _read_info(fd)
        os.close(fd)
        return None, info
    try:  # the previous holder may have removed the file between our open and our lock: that lock guards nothing
        same = os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        same = False
    if not same:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return None, {}
    return fd, {}


def _write_info(fd: int, command: str) -> None:
    note = {"pid": os.getpid(), "command": f"yolo-transfer {command}", "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(note).encode() + b"\n", 0)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str, wait: bool = False,
                other: str | None = None) -> Iterator[Path]:
    """Hold `folder` (created if missing) as its only writer for the block; yields the folder.

    Another process holding it: a `UserError` naming the holder, or with `wait` a poll until it is done (one line on
    stderr says whom it waits for). `command` names this run in others' refusals (`predict`); `other` is the way around
    a refusal (`use another --out`). A folder this call created is removed when the block leaves it empty."""
    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _HELD:  # this process holds it already (an outer call): nothing more to take
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    fd = _acquire(folder / LOCK_NAME, command, wait, other)
    _HELD[key] = 1
    try:
        yield folder
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(folder / LOCK_NAME)  # before unlocking: a waiter on this file then sees it gone and retries
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if nothing was written


def _acquire(path: Path, command: str, wait: bool, other: str | None) -> int:
    told, blank = False, 0
    while True:
        try:
            fd, info = _open_locked(path)
        except FileNotFoundError:  # the holder made the folder, wrote nothing and removed it again
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        if fd is not None:
            with contextlib.suppress(OSError):  # a full disk: the lock holds all the same, only unnamed
                _write_info(fd, command)
            return fd
        if not info and blank < 20:  # the holder is releasing it, or has not written its note yet: look again
            blank += 1
            time.sleep(0.05)
            continue
        who = describe(info)
        if not wait:
            ways = ", ".join(w for w in ("wait for it", other) if w)
            raise UserError(f"{path.parent} is being written by {who}; {ways}, or add --wait")
        if not told:
            print(f"{path.parent} is being written by {who}; waiting for it to finish (Ctrl-C to stop)",
                  file=sys.stderr, flush=True)
            told = True
        time.sleep(POLL_SECONDS)
