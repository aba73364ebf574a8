"""yolo-transfer: verified transfer learning, parity-gated export and resumable batch inference on Ultralytics YOLO."""

from __future__ import annotations

__version__ = "0.1.0"


def train(*args, **kwargs):
    """Fine-tune a detector with a transfer preset; see `yolo_transfer.training.api.train` for the arguments."""
    from yolo_transfer.training.api import train as _train

    return _train(*args, **kwargs)


def compare(*args, **kwargs):
    """Compare transfer presets on your data under one budget; see `yolo_transfer.compare.api.compare`."""
    from yolo_transfer.compare.api import compare as _compare

    return _compare(*args, **kwargs)


__all__ = ["train", "compare", "__version__"]
