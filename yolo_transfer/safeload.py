"""Checkpoints are pickles, and unpickling can run code: every checkpoint opened in this process loads restricted.

Restricted is Ultralytics' own loader, switched on by default (`ULTRALYTICS_SAFE_LOAD`: `torch.load(weights_only=True)`
against an allow-list of Ultralytics' and torch's module classes), plus the module classes a kept checkpoint carries
(`training.keep_head.SAFE_GLOBALS`). It covers every load, ours and Ultralytics' (`YOLO(...)`, the trainer's weights,
resume, the distillation teacher, `AutoBackend`), because they all go through that one switch. A file that references
anything else is refused before any of its code runs. `trust=True` (`--trust-checkpoint`,
`YOLO_TRANSFER_TRUST_CHECKPOINT=1`) loads with full pickle, for a file the user has vetted.

torch's restricted unpickler is pure Python (about 3x a full-pickle load), so a verdict is remembered: a pickle that
loaded restricted once has its sha256 (with the torch, Ultralytics and yolo-transfer versions that judged it) kept in
the user's cache, and a later load of a file whose pickle is one of those loads with the C unpickler. The file is
read into memory once; the digest is of the record `torch.load` reads from that copy, and the unpickler handed to
`torch.load` re-hashes the bytes it is given, so full pickle runs only what was judged. The verdicts file counts
only where it is the user's own and writable by nobody else; `YOLO_TRANSFER_SAFELOAD_CACHE=0` judges every load.
Guide: docs/guides/untrusted.md; cost: docs/evidence/untrusted.md (`bench/safeload_bench.py`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickletools
import re
import sys
import threading
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from yolo_transfer.errors import UserError
from yolo_transfer.utils.env import cache_dir

TRUST_ENV = "YOLO_TRANSFER_TRUST_CHECKPOINT"
ULTRALYTICS_ENV = "ULTRALYTICS_SAFE_LOAD"  # Ultralytics' documented switch; child processes (DDP, Ray) inherit it
TRUST_HINT = ("if you have vetted this file, pass --trust-checkpoint (Python: trust_checkpoint=True, or set "
              f"{TRUST_ENV}=1) to load it with full pickle")
CACHE_OFF_ENV = "YOLO_TRANSFER_SAFELOAD_CACHE"  # "0": no remembered verdicts
_TRUTHY = {"1", "true", "yes", "on", "y", "t"}
_warned_trust = False
_ours_allowed = False


class UnsafeCheckpoint(UserError):
    """A checkpoint references a global outside the allow-list: refused before unpickling ran any of it (exit 2)."""


def env_trusts() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in _TRUTHY


def _set(restricted: bool, import_tasks: bool = True) -> None:
    os.environ[ULTRALYTICS_ENV] = "1" if restricted else "0"
    if import_tasks:
        import ultralytics.nn.tasks  # noqa: F401 - so the live flag below is the one its loader reads
    tasks = sys.modules.get("ultralytics.nn.tasks")
    if tasks is not None:
        tasks.SAFE_LOAD = restricted  # read at every load by `torch_safe_load` (the env var only at import)
        _hook(tasks)


def set_default() -> None:
    """At package import: restricted unless the environment trusts checkpoints (no torch imported here)."""
    _set(not env_trusts(), import_tasks=False)


def is_restricted() -> bool:
    return os.environ.get(ULTRALYTICS_ENV, "").strip().lower() in _TRUTHY


def _allow_ours() -> None:
    """Register the keep-classes module classes with torch's allow-list, once per process."""
    global _ours_allowed
    if not _ours_allowed:
        import torch

        from yolo_transfer.training.keep_head import SAFE_GLOBALS  # a leaf module: torch and Ultralytics' Detect only

        torch.serialization.add_safe_globals(SAFE_GLOBALS)
        _ours_allowed = True


def refusal(e: BaseException, path: str | os.PathLike | None = None) -> UnsafeCheckpoint | None:
    """Our one-line error for a load the restricted unpickler refused (found anywhere in `e`'s causes), else None."""
    chain, seen = [], e
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(x) for x in chain)
    if not any(k in text for k in ("Weights only load failed", "blocked during restricted model load")):
        return None  # (Ultralytics' "references types outside ..." also means "holds no model": not a refusal)
    if path is None:
        m = re.search(r"(\S+\.pt\w*) references types outside", text)
        path = m.group(1) if m else "a checkpoint"
    g = re.search(r"GLOBAL ([\w.]+)", text)
    other = re.search(r"(unsafe getattr\([^)]*\)|unsupported activation '[^']*')", text)
    if not g and not other:
        return None  # a damaged or foreign file (e.g. bytes that are no pickle): the callers' own "cannot load"
    what = (f"references {g.group(1)}, which is not a model class of Ultralytics, torch or yolo-transfer" if g else
            f"asks for {other.group(1)}")
    return UnsafeCheckpoint(f"{path}: refused: the checkpoint {what}; unpickling it could run code from the file "
                            f"(nothing of it ran); {TRUST_HINT}")


@contextlib.contextmanager
def loading(trust: bool | None = False) -> Iterator[None]:
    """Inside: checkpoints load restricted (or with full pickle where `trust`; `None`: as the enclosing block
    says), and a refused one raises `UnsafeCheckpoint`. The entry points (train, compare, recommend, export,
    predict, inspect) run inside one."""
    global _warned_trust
    before = is_restricted()
    trust = (not before) if trust is None else (trust or env_trusts())
    _set(not trust)
    _allow_ours()
    if trust and not _warned_trust:
        _warned_trust = True
        sys.stderr.write("note: checkpoints load with full pickle (trusted): only for files you have vetted\n")
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        err = refusal(e)
        if err is None:
            raise
        raise err from None
    finally:
        _set(before)


def load(path: str | os.PathLike) -> dict:
    """A checkpoint's dict, through Ultralytics' loader (restricted unless trusted): our own reads (verification,
    resume, the kept-classes check) open checkpoints the same way as every other load."""
    from ultralytics.nn.tasks import torch_safe_load

    _allow_ours()
    try:
        return torch_safe_load(str(path), safe_only=is_restricted())[0]
    except Exception as e:
        err = refusal(e, path)
        if err is None:
            raise
        raise err from None


# ---------------------------------------------------------------------------------------------- remembered verdicts
class _NotVerified(Exception):
    """This file's pickle has no remembered verdict here (or its full-pickle load failed): it is judged restricted."""


_local = threading.local()  # .mode: "hit" (load a remembered pickle with full pickle) or "judge" (restricted, remember)
_MAX_VERDICTS = 4096


def _verdicts_file() -> Path | None:
    """The verdicts file, or None where it must not be trusted: it grants full unpickling, so it and its folder
    must be the user's own and writable by nobody else (a shared or group-writable cache is ignored)."""
    path = cache_dir() / "verified-checkpoints.txt"
    if os.environ.get(CACHE_OFF_ENV, "1").strip().lower() not in _TRUTHY:
        return None
    for p in (path.parent, path):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        except OSError:
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
    return path


def _key(record: bytes) -> str:
    """A pickle's digest, with the versions whose allow-list and unpicklers judged it."""
    import numpy
    import torch
    import ultralytics

    from yolo_transfer import __version__

    versions = (f"python {sys.version_info[0]}.{sys.version_info[1]}, torch {torch.__version__}, numpy "
                f"{numpy.__version__}, ultralytics {ultralytics.__version__}, yolo-transfer {__version__}\0")
    return hashlib.sha256(versions.encode() + record).hexdigest()


def _digest(data: bytes) -> str | None:
    """The key of the pickle `torch.load` unpickles from `data`: a zip checkpoint's `data.pkl`, read with torch's
    own zip reader; None for anything `torch.load` would open another way (legacy format: the first bytes decide,
    whatever zip follows them; TorchScript), which is judged at every load."""
    import torch

    buf = io.BytesIO(data)
    try:
        if not torch.serialization._is_zipfile(buf):
            return None
        buf.seek(0)
        with torch.serialization._open_zipfile_reader(buf) as reader:
            if torch.serialization._is_torchscript_zip(reader):
                return None
            return _key(bytes(reader.get_record("data.pkl")))
    except Exception:  # noqa: BLE001 - no data.pkl, damaged, or a torch without these: judged every time
        return None


def _only(expected: str):
    """A pickle module for `torch.load` whose unpickler unpickles only a pickle with key `expected` (it hashes the
    very bytes it is handed), so full pickle never runs anything that was not judged, whichever way torch read the
    file; every other use of it (the legacy format's pickles) refuses."""
    import pickle
    import types

    class Unpickler(pickle.Unpickler):
        def __init__(self, file, *args, **kwargs):
            record = file.read()
            if _key(record) != expected:
                raise _NotVerified("the pickle is not the one judged")
            super().__init__(io.BytesIO(record), *args, **kwargs)

    def refuse(*args, **kwargs):
        raise _NotVerified("not a zip checkpoint")

    return types.SimpleNamespace(__name__=__name__ + ".verified", Unpickler=Unpickler, load=refuse, loads=refuse,
                                 UnpicklingError=pickle.UnpicklingError)


def _known(digest: str) -> bool:
    path = _verdicts_file()
    try:
        return path is not None and digest in path.read_text().split()
    except OSError:
        return False


def _widened() -> bool:
    """Whether this process aliases a global beyond what Ultralytics and yolo-transfer register (an `(obj, name)`
    given to `torch.serialization.add_safe_globals`): a name restricted loading maps to `obj` but full pickle would
    import for real, so a verdict reached here is not remembered."""
    import torch

    from yolo_transfer.training.keep_head import SAFE_GLOBALS

    registry = getattr(sys.modules["ultralytics.nn.tasks"]._SafeLoad, "_registry", None) or {}
    ours = {(id(obj), name) for obj, name in SAFE_GLOBALS}
    return any(isinstance(e, tuple) and registry.get(e[1]) is not e[0] and (id(e[0]), e[1]) not in ours
               for e in torch.serialization.get_safe_globals())


def _remember(digest: str) -> None:
    """Append one line (atomic on POSIX for a line this short); past `_MAX_VERDICTS` keep the newer half."""
    from yolo_transfer.utils.io import atomic_write_text

    path = _verdicts_file()
    if path is None or _widened() or _known(digest):
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(digest + "\n")
        lines = path.read_text().split()
        if len(lines) > _MAX_VERDICTS:
            atomic_write_text(path, "\n".join(lines[-_MAX_VERDICTS // 2:]) + "\n")
            path.chmod(0o600)
    except OSError:
        pass  # a read-only home: every load is judged afresh, nothing else changes


def _torch_load(original):
    """Ultralytics' `torch_load` for the loader below: from an in-memory copy, with full pickle only for the pickle
    whose key is remembered ("hit"), restricted and then remembered ("judge"); as it was outside those."""

    def torch_load(file, *args, **kwargs):
        mode = getattr(_local, "mode", None)
        if mode is None or not isinstance(file, (str, os.PathLike)):
            return original(file, *args, **kwargs)
        data = Path(file).read_bytes()
        digest = _digest(data)
        if mode == "hit":
            if digest is None or not _known(digest):
                raise _NotVerified(file)
            try:
                return original(io.BytesIO(data), *args, **{**kwargs, "weights_only": False,
                                                            "pickle_module": _only(digest)})
            except Exception as e:  # noqa: BLE001 - judged again restricted (whose errors say what is wrong), so
                raise _NotVerified(file) from e  # no fallback of Ultralytics' own (a re-download) ever starts here
        out = original(io.BytesIO(data), *args, **kwargs)  # restricted (weights_only=True): it raises on refusal
        if digest is not None:
            _remember(digest)
        return out

    return torch_load


def _torch_safe_load(original):
    """Ultralytics' `torch_safe_load`, restricted loads trying a remembered verdict first (skipping the restricted
    unpickler and its global scan), else judged restricted as before."""

    def torch_safe_load(weight, safe_only=None):
        tasks = sys.modules["ultralytics.nn.tasks"]
        restricted = tasks.SAFE_LOAD if safe_only is None else safe_only
        if not restricted or _verdicts_file() is None:
            return original(weight, safe_only)
        try:
            _local.mode = "hit"
            try:
                return original(weight, safe_only=False)  # SAFE_LOAD stays on: models still build without eval()
            except _NotVerified:
                pass
            _local.mode = "judge"
            return original(weight, safe_only=True)
        finally:
            _local.mode = None

    torch_safe_load.__wrapped__ = original
    return torch_safe_load


def _hook(tasks) -> None:
    """Install the two wrappers above into Ultralytics' loader module, once (its own loads find them there)."""
    if not hasattr(tasks.torch_safe_load, "__wrapped__"):
        tasks.torch_load = _torch_load(tasks.torch_load)
        tasks.torch_safe_load = _torch_safe_load(tasks.torch_safe_load)


# ------------------------------------------------------------------------------------------------- what inspect shows
@dataclass
class CheckpointScan:
    """The globals a checkpoint's pickle names (read from its opcodes: nothing runs) and the verdict of a restricted
    load: `unexpected` are the ones outside the allow-list."""

    path: str
    globals: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    passes: bool = True
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _pickles(path: Path) -> list[bytes]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return [z.read(n) for n in z.namelist() if n.endswith(".pkl")]
    return [path.read_bytes()]  # legacy torch.save format: consecutive pickles


def referenced_globals(path: str | os.PathLike) -> list[str]:
    """Every `module.name` the checkpoint's pickles reference, in order of first use (pickletools: no code runs)."""
    out: list[str] = []
    for data in _pickles(Path(path)):
        strings: list[str] = []
        try:
            for op, arg, _ in pickletools.genops(data):
                if op.name == "GLOBAL":
                    out.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    out.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str) and "UNICODE" in op.name:
                    strings.append(arg)
        except Exception:  # noqa: BLE001 - a legacy file holds several pickles and raw bytes after them
            pass
    return list(dict.fromkeys(out))


def scan(path: str | os.PathLike) -> CheckpointScan:
    """The globals `path` references and whether it loads restricted (a restricted load is attempted: safe)."""
    import torch

    result = CheckpointScan(str(path), referenced_globals(path))
    try:
        with loading(trust=False):  # the verdict is the restricted loader's, whatever the command trusts
            load(path)
    except UnsafeCheckpoint as e:
        result.passes, result.error = False, str(e)
        try:  # what is left unregistered after Ultralytics allowed what it knows: the unexpected ones
            result.unexpected = list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception:  # noqa: BLE001 - not a zip checkpoint
            result.unexpected = []
    return result
