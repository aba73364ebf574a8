"""Remembered verdicts of restricted loading: a pickle that loaded restricted once loads later with full pickle.

torch's restricted unpickler is pure Python, about 3x a full-pickle load (docs/evidence/untrusted.md). A pickle that
passed it is remembered by `key` (its sha256 with the versions that judged it) in `verified-checkpoints.txt` in the
user cache, and `safeload` loads a remembered pickle with the C unpickler. The rules that keep that sound:

- only the very pickle that was judged is unpickled (`only`: the unpickler re-hashes what `torch.load` hands it);
- only plain zip checkpoints are remembered (`digest`: legacy and TorchScript files are judged at every load);
- only a pickle whose every global full pickle resolves to the object the restricted load used is remembered
  (`stable`): a name the process allowed itself, or one restricted loading maps to a stand-in, is judged each time;
- the file counts only where it and its folder are the user's own and writable by nobody else, and it is opened
  relative to the checked folder without following links (`_folder`).

Guide: docs/guides/untrusted.md#checkpoints-load-restricted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import io
import os
import sys
from typing import Iterator

from yolo_transfer.utils.env import cache_dir, env_flag

CACHE_OFF_ENV = "YOLO_TRANSFER_SAFELOAD_CACHE"  # "0": no remembered verdicts
FILE = "verified-checkpoints.txt"
MAX_VERDICTS = 4096


class NotVerified(Exception):
    """This file's pickle has no remembered verdict here (or its full-pickle load failed): it is judged restricted."""


@functools.cache
def supported() -> bool:
    """This torch has the reader and the allow-list that the rules below read (torch internals; without them every
    load is judged)."""
    import torch
    import torch._weights_only_unpickler as wou

    s = torch.serialization
    return all(hasattr(s, n) for n in ("_is_zipfile", "_open_zipfile_reader", "_is_torchscript_zip")) and all(
        hasattr(wou, n) for n in ("get_globals_in_pkl", "_get_allowed_globals"))


def enabled() -> bool:
    return env_flag(CACHE_OFF_ENV, "1") and supported()


def _private(fd: int) -> bool:
    st = os.fstat(fd)
    return not hasattr(os, "getuid") or (st.st_uid == os.getuid() and not st.st_mode & 0o022)


@contextlib.contextmanager
def _folder(create: bool = False) -> Iterator[int | None]:
    """The cache folder, opened without following a link and checked on the open descriptor: yours, and writable
    by nobody else; None where it is missing (and not `create`d) or fails that."""
    path = cache_dir()
    if create:
        with contextlib.suppress(OSError):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        yield None
        return
    try:
        yield fd if _private(fd) else None
    finally:
        os.close(fd)


def _open(folder: int, flags: int) -> int | None:
    try:
        fd = os.open(FILE, flags | getattr(os, "O_NOFOLLOW", 0), 0o600, dir_fd=folder)
    except OSError:
        return None
    if _private(fd):
        return fd
    os.close(fd)
    return None


def _lines(folder: int) -> list[str]:
    fd = _open(folder, os.O_RDONLY)
    if fd is None:
        return []
    with os.fdopen(fd) as f:
        return f.read().split()


def known(digest: str) -> bool:
    if not enabled():
        return False
    with _folder() as folder:
        return folder is not None and digest in _lines(folder)


def remember(digest: str) -> None:
    """Append one line (atomic on POSIX for a line this short); past `MAX_VERDICTS` keep the newer half. Any
    failure only means judging that file again next time."""
    if not enabled():
        return
    with _folder(create=True) as folder:
        if folder is None:
            return
        lines = _lines(folder)
        if digest in lines:
            return
        fd = _open(folder, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if fd is None:
            return
        with os.fdopen(fd, "a") as f:
            f.write(digest + "\n")
        if len(lines) + 1 > MAX_VERDICTS:
            _rewrite(folder, lines[-MAX_VERDICTS // 2:] + [digest])


def _rewrite(folder: int, lines: list[str]) -> None:
    tmp = f".{FILE}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600, dir_fd=folder)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, FILE, src_dir_fd=folder, dst_dir_fd=folder)


def key(record: bytes) -> str:
    """A pickle's digest, with the versions whose allow-lists and unpicklers judged it."""
    return hashlib.sha256(_versions() + record).hexdigest()


def _versions() -> bytes:
    import numpy
    import torch
    import ultralytics

    from yolo_transfer import __version__

    return (f"python {sys.version_info[0]}.{sys.version_info[1]}, torch {torch.__version__}, numpy "
            f"{numpy.__version__}, ultralytics {ultralytics.__version__}, yolo-transfer {__version__}\0").encode()


def record(data: bytes) -> bytes | None:
    """The pickle `torch.load` unpickles from `data`: a zip checkpoint's `data.pkl`, read with torch's own zip
    reader; None for anything `torch.load` opens another way (legacy format: its first bytes decide, whatever zip
    follows them; TorchScript)."""
    import torch

    buf = io.BytesIO(data)
    try:
        if not torch.serialization._is_zipfile(buf):
            return None
        buf.seek(0)
        with torch.serialization._open_zipfile_reader(buf) as reader:
            if torch.serialization._is_torchscript_zip(reader):
                return None
            return bytes(reader.get_record("data.pkl"))
    except Exception:  # noqa: BLE001 - no data.pkl, damaged, or a torch without these: judged every time
        return None


def _imported(name: str):
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception:  # noqa: BLE001 - not importable as named: full pickle would not resolve it either
        return None


def stable(pickle: bytes) -> bool:
    """Whether full pickle resolves every global `pickle` names to the object the restricted load used here:
    torch's own allow-list, or a name Ultralytics' rule or ours registered and that imports, as named, to that very
    object. A name the process allowed itself (`add_safe_globals`), or one restricted loading maps to a stand-in
    (Ultralytics' `builtins.getattr`), makes the verdict this process's only: not remembered."""
    import torch._weights_only_unpickler as wou

    from yolo_transfer.training.keep_head import SAFE_GLOBALS

    tasks = sys.modules.get("ultralytics.nn.tasks")
    try:
        names = wou.get_globals_in_pkl(io.BytesIO(pickle)) - set(wou._get_allowed_globals())
        registry = dict(getattr(getattr(tasks, "_SafeLoad", None), "_registry", None) or {})
    except Exception:  # noqa: BLE001 - a torch or Ultralytics without these: judged every time
        return False
    registry.update({name: obj for obj, name in SAFE_GLOBALS})
    return all(name in registry and _imported(name) is registry[name] for name in names)


def only(expected: str):
    """A pickle module for `torch.load` whose unpickler unpickles only the pickle with key `expected` (it hashes the
    very bytes it is handed), so full pickle never runs anything that was not judged, whichever way torch read the
    file; every other use of it (the legacy format's pickles) refuses."""
    import pickle as std
    import types

    class Unpickler(std.Unpickler):
        def __init__(self, file, *args, **kwargs):
            data = file.read()
            if key(data) != expected:
                raise NotVerified("the pickle is not the one judged")
            super().__init__(io.BytesIO(data), *args, **kwargs)

    def refuse(*args, **kwargs):
        raise NotVerified("not a zip checkpoint")

    return types.SimpleNamespace(__name__=__name__ + ".only", Unpickler=Unpickler, load=refuse, loads=refuse,
                                 UnpicklingError=std.UnpicklingError)
