"""`TransferModel`: the front door, as `YOLO("yolo26n.pt")` is Ultralytics'.

    from yolo_transfer import TransferModel

    m = TransferModel("yolo26n.pt")             # a COCO checkpoint, an Ultralytics name or an architecture YAML
    m.recommend("data.yaml")                    # a preset from facts measured on your data, before training
    m.train("data.yaml", preset="auto", epochs=30)   # afterwards `m` is the trained best.pt
    m.export(format="onnx")                     # with the parity gate
    m.predict("images/", out="runs/predictions")

Each method is the public function of the same name (`yolo_transfer.train`, `.recommend`, ...) with this model
first, and returns the typed result the CLI prints from. The weights are resolved once (a name is looked up or
downloaded when the object is made) and the anatomy is read once, when first needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolo_transfer.options import CompareOptions, ExportOptions, PredictOptions, TrainOptions, takes
from yolo_transfer.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from yolo_transfer.anatomy import Anatomy
    from yolo_transfer.comparison.api import CompareResult
    from yolo_transfer.exporter.api import ExportResult
    from yolo_transfer.inference.api import PredictSummary
    from yolo_transfer.presets import PresetRow
    from yolo_transfer.strategy.recommend import Recommendation
    from yolo_transfer.training.api import TrainResult


class TransferModel:
    """A detector to adapt to new data: the model every operation starts from.

    Args:
        model: a checkpoint path, an Ultralytics name (`yolo26n.pt`, the default: looked up in
            `$YOLO_TRANSFER_WEIGHTS` and Ultralytics' weights folder, downloaded when online) or an architecture YAML.
        trust_checkpoint: load it with full pickle in `inspect` and `recommend` (a file you have vetted; by
            default checkpoints load restricted: docs "Untrusted inputs").

    Attributes:
        path: the resolved checkpoint (or YAML) the next operation uses; after `train`, the run's `best.pt`.
        last_train: the `TrainResult` of the last `train` call, if any.
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, *, trust_checkpoint: bool = False):
        from yolo_transfer.weights import resolve_model

        self.path: str = resolve_model(model)
        self.trust_checkpoint = trust_checkpoint  # inspect and recommend; train/export/predict take it per call
        self.last_train: TrainResult | None = None
        self._anatomy: Anatomy | None = None

    def __repr__(self) -> str:
        return f"TransferModel({self.path!r})"

    @property
    def anatomy(self) -> Anatomy:
        """Backbone / neck / head of this model (read once)."""
        if self._anatomy is None:
            from yolo_transfer.anatomy import inspect

            self._anatomy = inspect(self.path, trust_checkpoint=self.trust_checkpoint)
        return self._anatomy

    def inspect(self) -> Anatomy:
        """The layer table `yolo-transfer inspect` prints: each layer's part and parameter count."""
        return self.anatomy

    def presets(self, epochs: int = 50, presets_file: str | os.PathLike | None = None) -> list[PresetRow]:
        """What every preset freezes on this model and how many parameters it trains (`yolo-transfer presets
        MODEL`)."""
        from yolo_transfer.presets import describe

        return describe(self.anatomy, epochs=epochs, presets_file=presets_file)

    def recommend(self, data: str | os.PathLike, *, budget_minutes: float | None = None, device: str | None = None,
                  reference: str | os.PathLike | None = None, images: int = 200, imgsz: int | None = None,
                  seed: int = 0, batch: int = 16, trust_checkpoint: bool = False) -> Recommendation:
        """A transfer preset for `data` before any training, from measured facts: see `yolo_transfer.recommend`."""
        from yolo_transfer.strategy.recommend import recommend

        return recommend(self.path, data, budget_minutes=budget_minutes, device=device, reference=reference,
                         images=images, imgsz=imgsz, seed=seed, batch=batch,
                         trust_checkpoint=trust_checkpoint or self.trust_checkpoint)

    @takes(TrainOptions, overrides=True)
    def train(self, data: str | os.PathLike | None = None, **kwargs: Any) -> TrainResult:
        """Fine-tune this model on `data` with a preset (or `auto`): see `yolo_transfer.train`. On success this
        object becomes the trained model (`best.pt`), as an Ultralytics `YOLO` does after `train`.

        Args:
            data: dataset YAML (Ultralytics YOLO layout); not needed with `resume`.
        """
        from yolo_transfer.transfer import run_train

        opts, overrides = TrainOptions.split(kwargs)
        result = run_train(self.path, data, opts, overrides)
        self.last_train = result
        if result.ok and result.best is not None:
            self.path, self._anatomy = str(result.best), None  # same layers, other classes: read again if asked
        return result

    @takes(CompareOptions, overrides=True)
    def compare(self, data: str | os.PathLike, **kwargs: Any) -> CompareResult:
        """Train this model on `data` once per preset (x seed x fraction) under one budget and report the
        trade-off: see `yolo_transfer.compare`. This object is not changed.

        Args:
            data: dataset YAML with train and val splits.
        """
        from yolo_transfer.comparison.api import run_compare

        opts, overrides = CompareOptions.split(kwargs)
        return run_compare(self.path, data, opts, overrides)

    @takes(ExportOptions)
    def export(self, **kwargs: Any) -> ExportResult:
        """Export this model (a `.pt`) for deployment through the parity gate: see `yolo_transfer.export`."""
        from yolo_transfer.exporter.api import run_export

        return run_export(self.path, ExportOptions.split(kwargs, extra=False)[0])

    @takes(PredictOptions)
    def predict(self, source: str | os.PathLike, out: str | os.PathLike, **kwargs: Any) -> PredictSummary:
        """Batch inference of this model over `source` into `out`, resumable: see `yolo_transfer.predict`.

        Args:
            source: a folder (searched recursively), a glob, a .txt list of paths, or one image.
            out: the output folder; rerunning with the same folder resumes where the last run stopped.
        """
        from yolo_transfer.inference.api import run_predict

        return run_predict(self.path, source, out, PredictOptions.split(kwargs, extra=False)[0])

    @property
    def weights(self) -> Path:
        """The current model file as a `Path`."""
        return Path(self.path)
