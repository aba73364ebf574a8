"""Atomic writes: a reader (or a crash) never sees a half-written file.

Every file the tool writes for people or machines goes through here: write to a temporary file in the same
folder, flush and fsync, then `os.replace` it over the target (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from yolo_transfer.errors import UserError

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def naming_errors(path: str | os.PathLike, temp_prefix: str | None = None) -> Iterator[None]:
    """An OSError with no file name raised in the block (a full disk fails `write()` and `fsync()`) names `path`, so
    the CLI's one line says which file; one naming a temporary file (`temp_prefix` + random, renamed to `path` when
    done) names `path`, or the file inside it. Errors about other files (a source being read) keep their names."""
    try:
        yield
    except OSError as e:
        if e.errno is None:
            raise
        first = str(path) if e.filename is None else _swap(e.filename, temp_prefix, path)
        second = None if e.filename2 is None else _swap(e.filename2, temp_prefix, path)
        if (first, second) == (e.filename, e.filename2):
            raise
        raise OSError(e.errno, e.strerror, first, None, second) from e


def _swap(name, temp_prefix: str | None, path: Path):
    name = os.fsdecode(name) if isinstance(name, (str, bytes)) else name
    if temp_prefix is None or not isinstance(name, str) or not name.startswith(temp_prefix):
        return name
    _, sep, inside = name[len(temp_prefix):].partition(os.sep)  # past the random part of the temporary name
    return str(path) + sep + inside


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    with naming_errors(path, str(path.parent / f".{path.name}.")):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should read like any file we write
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and Paths show up in metrics and plans; JSON should not choke on them.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def to_json(data: Any, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, default=_json_default, ensure_ascii=False) + "\n"


def atomic_write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, to_json(data, indent))


def atomic_write_yaml(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a whole folder under a temporary name and rename it into place only when complete: an interrupted build
    leaves a `.name.partial-*` folder (removed here on error), never a finished-looking `path` (must not exist)."""
    path = Path(path)
    naming = functools.partial(naming_errors, path, str(path.parent / f".{path.name}.partial-"))
    with naming():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        with naming():
            yield tmp
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_folder_path(path: str | os.PathLike, what: str) -> Path:
    """Refuse, in one line and before anything is written, an output folder that cannot be one: the path, or a
    folder above it, is a file (mkdir would fail deep inside a run with a traceback)."""
    p = Path(path).expanduser()
    for q in (p, *p.parents):
        if q.is_dir():
            break
        if q.exists() or q.is_symlink():
            kind = "a file" if q.exists() else "a broken symlink"
            where = f"is {kind}" if q == p else f"is under {q}, which is {kind}"
            raise UserError(f"{what} {p} {where}; give a folder (existing or new)")
    return p


def read_yaml_mapping(path: str | os.PathLike, what: str) -> dict:
    """A user's YAML file that must hold a mapping; every problem is one line naming `what` and the file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {p}: invalid YAML ({str(e).splitlines()[0]})")
    if not isinstance(data, dict):
        raise UserError(f"{what} {p}: expected a mapping at the top level")
    return data
