"""Checkpoints are pickles, and unpickling can run code: every checkpoint opened in this process loads restricted.

Restricted is Ultralytics' own loader, switched on by default (`ULTRALYTICS_SAFE_LOAD`: `torch.load(weights_only=True)`
against an allow-list of Ultralytics' and torch's module classes), plus the module classes a kept checkpoint carries
(`training.keep_head.SAFE_GLOBALS`). It covers every load, ours and Ultralytics' (`YOLO(...)`, the trainer's weights,
resume, the distillation teacher, `AutoBackend`), because they all go through that one switch. A file that references
anything else is refused before any of its code runs. `trust=True` (`--trust-checkpoint`,
`YOLO_TRANSFER_TRUST_CHECKPOINT=1`) loads with full pickle, for a file the user has vetted.

torch's restricted unpickler is pure Python (about 3x a full-pickle load), so a verdict is remembered: a pickle that
loaded restricted once loads later with the C unpickler, by the rules in `yolo_transfer.verdicts`.
Guide: docs/guides/untrusted.md; cost: docs/evidence/untrusted.md (`bench/safeload_bench.py`).
"""

from __future__ import annotations

import contextlib
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

from yolo_transfer import verdicts
from yolo_transfer.errors import UserError
from yolo_transfer.utils.env import env_flag

TRUST_ENV = "YOLO_TRANSFER_TRUST_CHECKPOINT"
ULTRALYTICS_ENV = "ULTRALYTICS_SAFE_LOAD"  # Ultralytics' documented switch; child processes (DDP, Ray) inherit it
TRUST_HINT = ("if you have vetted this file, pass --trust-checkpoint (Python: trust_checkpoint=True, or set "
              f"{TRUST_ENV}=1) to load it with full pickle")
_warned_trust = False
_ours_allowed = False


class UnsafeCheckpoint(UserError):
    """A checkpoint references a global outside the allow-list: refused before unpickling ran any of it (exit 2)."""


def env_trusts() -> bool:
    return env_flag(TRUST_ENV)


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
    return env_flag(ULTRALYTICS_ENV)


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
        if err is not None:
            raise err from None
        if isinstance(e, (TypeError, RuntimeError, EOFError, ValueError)):  # Ultralytics' "not a loadable checkpoint"
            raise UserError(f"{path}: not a loadable checkpoint (empty, truncated, or not a torch file); re-download "
                            f"or re-export it") from None
        raise


# ---------------------------------------------------------------------------------------------- remembered verdicts
# .mode: "hit" (a remembered pickle with full pickle) or "judge" (restricted, then remembered); .data: the file's bytes
_local = threading.local()


def _torch_load(original):
    """Ultralytics' `torch_load` for the loader below: from an in-memory copy, with full pickle only for the pickle
    whose key is remembered ("hit"), restricted and then remembered ("judge"); as it was outside those
    (`yolo_transfer.verdicts` has the rules)."""

    def torch_load(file, *args, **kwargs):
        mode = getattr(_local, "mode", None)
        if mode is None or not isinstance(file, (str, os.PathLike)):
            return original(file, *args, **kwargs)
        data = _local.data if mode == "judge" and _local.data else Path(file).read_bytes()  # one read per load
        _local.data = data
        pickle = verdicts.record(data)
        digest = verdicts.key(pickle) if pickle is not None else None
        if mode == "hit":
            if digest is None or not verdicts.known(digest):
                raise verdicts.NotVerified(file)
            try:
                return original(io.BytesIO(data), *args, **{**kwargs, "weights_only": False,
                                                            "pickle_module": verdicts.only(digest)})
            except Exception as e:  # noqa: BLE001 - judged again restricted (whose errors say what is wrong), so
                raise verdicts.NotVerified(file) from e  # no fallback of Ultralytics' (a re-download) starts here
        out = original(io.BytesIO(data), *args, **kwargs)  # restricted (weights_only=True): it raises on refusal
        if digest is not None and verdicts.stable(pickle):
            verdicts.remember(digest)
        return out

    return torch_load


def _torch_safe_load(original):
    """Ultralytics' `torch_safe_load`, restricted loads trying a remembered verdict first (skipping the restricted
    unpickler and its global scan), else judged restricted as before."""

    def torch_safe_load(weight, safe_only=None):
        tasks = sys.modules["ultralytics.nn.tasks"]
        restricted = tasks.SAFE_LOAD if safe_only is None else safe_only
        if not restricted or not verdicts.enabled():
            return original(weight, safe_only)
        try:
            _local.mode, _local.data = "hit", None
            try:
                return original(weight, safe_only=False)  # SAFE_LOAD stays on: models still build without eval()
            except verdicts.NotVerified:
                pass
            _local.mode = "judge"
            return original(weight, safe_only=True)
        finally:
            _local.mode = _local.data = None

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
