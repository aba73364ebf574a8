"""What produced a run: library versions and the machine, written into every run folder."""

from __future__ import annotations

import platform
import sys
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model, for benchmark output (speed numbers mean little without it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu_name()}
    for dist in ("yolo-transfer", "ultralytics", "torch", "torchvision", "numpy", "opencv-python", "onnxruntime"):
        out[dist] = _version(dist)
    try:
        import torch

        out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    except Exception:  # versions are informational; never fail a run over them
        pass
    return out
