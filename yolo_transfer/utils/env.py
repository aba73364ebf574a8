"""What produced a run: library versions and the machine, written into every run folder."""

from __future__ import annotations

import os
import platform
import sys
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path

from yolo_transfer.errors import UserError

# Ultralytics sets OMP_NUM_THREADS=1 on import when it is unset (or empty). A "1" is a user's (or Ray's, per task)
# choice of CPU threads, which CPU training keeps (`cpu_train_threads`), only if it was there when this module was
# first imported (the package's __init__ imports it first, before Ultralytics); otherwise it may be Ultralytics' own
OMP_CHOSEN_BEFORE_ULTRALYTICS = bool(os.environ.get("OMP_NUM_THREADS")) and "ultralytics" not in sys.modules


CACHE_ENV = "YOLO_TRANSFER_CACHE"
_TRUTHY = {"1", "true", "yes", "on", "y", "t"}


def env_flag(name: str, default: str = "") -> bool:
    """An on/off environment variable: 1, true, yes, on (any case) mean on."""
    return os.environ.get(name, default).strip().lower() in _TRUTHY


def cache_dir() -> Path:
    """The user's cache for what the package makes once and reuses (the source model, checkpoint verdicts):
    `$YOLO_TRANSFER_CACHE`, else `$XDG_CACHE_HOME/yolo-transfer`, else `~/.cache/yolo-transfer`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "yolo-transfer"


def cpu_name() -> str:
    """The CPU model, for benchmark output (speed numbers mean little without it)."""
    with suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def user_omp_threads() -> str | None:
    """OMP_NUM_THREADS as a user or Ray (per task, in reused workers too) set it; None when unset or when it may be
    Ultralytics' own import-time "1" (`OMP_CHOSEN_BEFORE_ULTRALYTICS`)."""
    value = os.environ.get("OMP_NUM_THREADS")
    return None if value == "1" and not OMP_CHOSEN_BEFORE_ULTRALYTICS else value


def cpu_train_threads(cores: int | None = None) -> int:
    """Torch threads for training on the CPU here: `train_threads` for this process's usable cores (or `cores`) and
    the OMP_NUM_THREADS a user or Ray chose (`user_omp_threads`)."""
    return train_threads(usable_cores() if cores is None else cores, user_omp_threads())


def train_threads(cores: int, omp: str | None) -> int:
    """The rule: torch threads for CPU training on `cores` cores, given a chosen OMP_NUM_THREADS (`omp`, or None).

    Ultralytics trains on the CPU with `workers=0` and torch at `min(8, cores - 1)` threads, leaving one of 2 cores
    idle; `min(8, cores)` is 1.30x faster on 2 cores (bench/train_threads.py), and no more than Ultralytics' 8 on big
    machines (a container's CPU quota is not in the affinity mask). A positive integer `omp` (a user's, Ray's) wins."""
    if omp and omp.strip().isdigit() and int(omp) > 0:
        return int(omp)
    return max(1, min(8, cores))


# device kinds Ultralytics takes besides CUDA indices; passed on unchecked (`select_device` knows them)
OTHER_DEVICES = ("cpu", "mps", "npu", "xpu", "tpu", "intel", "vulkan", "dla")


def check_device(device) -> None:
    """`--device` refused in one line before any work (Ultralytics' own check fails deep inside, in many lines): a CUDA
    GPU where there is none, an index past the GPUs there are, or a word that is no device. Only reads; accepts what
    Ultralytics does (cpu, mps, npu:0, xpu, -1, cuda, cuda:0, 0, 0,1, [0, 1]); under CUDA_VISIBLE_DEVICES, indices
    are left to Ultralytics (it maps physical ids)."""
    if device is None:
        return
    raw = str(device)
    spec = raw.strip().lower()
    for junk in ("[", "]", "(", ")", "'", '"', " ", "cuda:"):
        spec = spec.replace(junk, "")
    parts = [p for p in spec.split(",") if p not in ("", "none")]
    if not parts or parts[0].split(":")[0] in OTHER_DEVICES:  # xpu:0,1 names its kind once
        return
    parts = ["0" if p == "cuda" else p for p in parts]
    if not all(p.isdigit() or p == "-1" for p in parts):
        raise UserError(f"--device {raw}: use cpu, mps, or CUDA GPU indices such as 0 or 0,1")
    indices = [int(p) for p in parts if p != "-1"]
    import torch

    n = torch.cuda.device_count()
    if n == 0:
        raise UserError(f"--device {raw}: no CUDA GPU is visible here (torch {torch.__version__}, built for CUDA "
                        f"{torch.version.cuda or 'none'}); use --device cpu")
    missing = [i for i in indices if i >= n]
    if missing and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        raise UserError(f"--device {raw}: there is no GPU {missing[0]}; this machine has {n} (0-{n - 1})")


@contextmanager
def torch_threads(n: int | None):
    """Run a block at `n` torch threads (None: as they are), then put the count back."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu_name()}
    for dist in ("yolo-transfer", "ultralytics", "torch", "torchvision", "numpy", "opencv-python", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import torch

        out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    except Exception:  # versions are informational; never fail a run over them
        pass
    return out
