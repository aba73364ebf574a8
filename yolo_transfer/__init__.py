"""yolo-transfer: verified transfer learning, parity-gated export and resumable batch inference on Ultralytics YOLO.

The front door is `TransferModel("yolo26n.pt")`; the same operations are plain functions with the model first:
`train`, `compare`, `recommend`, `export`, `predict`. Names resolve on first use, so `import yolo_transfer` (and
`yolo-transfer --help`) does not load torch.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING

from yolo_transfer.utils import env as _env  # first: it reads OMP_NUM_THREADS before Ultralytics can set it
from yolo_transfer import safeload as _safeload  # noqa: E402 - before Ultralytics: checkpoints load restricted

_safeload.set_default()

__version__ = "0.1.0"

# public name -> the module that defines it (one module per group of public functions)
_WHERE = {
    "TransferModel": "yolo_transfer.model",
    "train": "yolo_transfer.transfer",
    "TrainResult": "yolo_transfer.training.api",
    "compare": "yolo_transfer.comparison.api",
    "CompareResult": "yolo_transfer.comparison.api",
    "recommend": "yolo_transfer.strategy.recommend",
    "Recommendation": "yolo_transfer.strategy.recommend",
    "export": "yolo_transfer.exporter.api",
    "ExportResult": "yolo_transfer.exporter.api",
    "check_parity": "yolo_transfer.exporter.parity",
    "ParityReport": "yolo_transfer.exporter.parity",
    "predict": "yolo_transfer.inference.api",
    "PredictSummary": "yolo_transfer.inference.api",
    "inspect": "yolo_transfer.anatomy",
    "Anatomy": "yolo_transfer.anatomy",
    "UserError": "yolo_transfer.errors",
}

if TYPE_CHECKING:  # what IDEs and type checkers see: the real objects
    from yolo_transfer.anatomy import Anatomy, inspect
    from yolo_transfer.comparison.api import CompareResult, compare
    from yolo_transfer.errors import UserError
    from yolo_transfer.exporter.api import ExportResult, export
    from yolo_transfer.exporter.parity import ParityReport, check_parity
    from yolo_transfer.inference.api import PredictSummary, predict
    from yolo_transfer.model import TransferModel
    from yolo_transfer.strategy.recommend import Recommendation, recommend
    from yolo_transfer.training.api import TrainResult
    from yolo_transfer.transfer import train


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(_import_module(_WHERE[name]), name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module 'yolo_transfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = sorted(_WHERE) + ["__version__"]
