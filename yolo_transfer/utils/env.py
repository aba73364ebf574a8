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


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for dist in ("yolo-transfer", "ultralytics", "torch", "torchvision", "numpy", "opencv-python", "onnxruntime"):
        out[dist] = _version(dist)
    try:
        import torch

        out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    except Exception:  # versions are informational; never fail a run over them
        pass
    return out
