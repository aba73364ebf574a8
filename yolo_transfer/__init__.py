"""yolo-transfer: verified transfer learning, parity-gated export and resumable batch inference on Ultralytics YOLO."""

from __future__ import annotations

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Ultralytics sets OMP_NUM_THREADS=1 on import when it is unset (or empty). A "1" is a user's (or Ray's, per task)
# choice of CPU threads, which CPU training keeps (`utils.env.cpu_train_threads`), only if it was there when we were
# imported, before Ultralytics; otherwise it may be Ultralytics' own default
OMP_CHOSEN_BEFORE_ULTRALYTICS = bool(_os.environ.get("OMP_NUM_THREADS")) and "ultralytics" not in _sys.modules


def train(*args, **kwargs):
    """Fine-tune a detector with a transfer preset; see `yolo_transfer.training.api.train` for the arguments."""
    from yolo_transfer.training.api import train as _train

    return _train(*args, **kwargs)


def compare(*args, **kwargs):
    """Compare transfer presets on your data under one budget; see `yolo_transfer.compare.api.compare`."""
    from yolo_transfer.compare.api import compare as _compare

    return _compare(*args, **kwargs)


def recommend(*args, **kwargs):
    """Recommend a transfer preset from measured facts; see `yolo_transfer.strategy.recommend.recommend`."""
    from yolo_transfer.strategy.recommend import recommend as _recommend

    return _recommend(*args, **kwargs)


__all__ = ["train", "compare", "recommend", "__version__"]
