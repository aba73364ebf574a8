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
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

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

    Attributes:
        path: the resolved checkpoint (or YAML) the next operation uses; after `train`, the run's `best.pt`.
        last_train: the `TrainResult` of the last `train` call, if any.
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL):
        from yolo_transfer.weights import resolve_model

        self.path: str = resolve_model(model)
        self.last_train: TrainResult | None = None
        self._anatomy: Anatomy | None = None

    def __repr__(self) -> str:
        return f"TransferModel({self.path!r})"

    @property
    def anatomy(self) -> Anatomy:
        """Backbone / neck / head of this model (read once)."""
        if self._anatomy is None:
            from yolo_transfer.anatomy import inspect

            self._anatomy = inspect(self.path)
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
                  seed: int = 0, batch: int = 16) -> Recommendation:
        """A transfer preset for `data` before any training, from measured facts: see `yolo_transfer.recommend`."""
        from yolo_transfer.strategy.recommend import recommend

        return recommend(self.path, data, budget_minutes=budget_minutes, device=device, reference=reference,
                         images=images, imgsz=imgsz, seed=seed, batch=batch)

    def train(self, data: str | os.PathLike | None = None, *, preset: str = "frozen-backbone", epochs: int = 50,
              budget_minutes: float | None = None, imgsz: int = 640, batch: int = 16, device: str | None = None,
              seed: int = 0, project: str | os.PathLike = "runs", name: str = "train", bn_policy: str = "frozen",
              class_map: str | os.PathLike | Mapping[str, str] | None = None,
              presets_file: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
              callbacks: Mapping[str, Callable] | None = None, verbose: bool = True, engine: str = "local",
              ray_address: str | None = None, wait: bool = False, keep_classes: bool = False,
              keep_method: str = "exact", retention_data: str | os.PathLike | None = None,
              replay: str | os.PathLike | None = None, **overrides: Any) -> TrainResult:
        """Fine-tune this model on `data` with a preset (or `auto`): see `yolo_transfer.train`. On success this
        object becomes the trained model (`best.pt`), as an Ultralytics `YOLO` does after `train`."""
        from yolo_transfer.transfer import train

        result = train(self.path, data, preset=preset, epochs=epochs, budget_minutes=budget_minutes, imgsz=imgsz,
                       batch=batch, device=device, seed=seed, project=project, name=name, bn_policy=bn_policy,
                       class_map=class_map, presets_file=presets_file, resume=resume, callbacks=callbacks,
                       verbose=verbose, engine=engine, ray_address=ray_address, wait=wait,
                       keep_classes=keep_classes, keep_method=keep_method, retention_data=retention_data, replay=replay,
                       **overrides)
        self.last_train = result
        if result.ok and result.best is not None:
            self.path, self._anatomy = str(result.best), None  # same layers, other classes: read again if asked
        return result

    def compare(self, data: str | os.PathLike, *, presets: Sequence[str] | str = ("frozen-backbone", "full"),
                epochs: int | None = None, budget_minutes: float | None = None, seeds: Sequence[int] | str = (0,),
                fractions: Sequence[float] | str = (1.0,), imgsz: int = 640, batch: int = 16,
                device: str | None = None, project: str | os.PathLike = "runs", name: str = "compare",
                engine: str = "local", ray_address: str | None = None,
                callbacks: Mapping[str, Callable] | None = None, verbose: bool = False,
                presets_file: str | os.PathLike | None = None, echo: Callable[[str], None] | None = None,
                wait: bool = False, retention_data: str | os.PathLike | None = None,
                replay: str | os.PathLike | None = None, **overrides: Any) -> CompareResult:
        """Train this model on `data` once per preset (x seed x fraction) under one budget and report the
        trade-off: see `yolo_transfer.compare`. This object is not changed."""
        from yolo_transfer.comparison.api import compare

        return compare(self.path, data, presets=presets, epochs=epochs, budget_minutes=budget_minutes, seeds=seeds,
                       fractions=fractions, imgsz=imgsz, batch=batch, device=device, project=project, name=name,
                       engine=engine, ray_address=ray_address, callbacks=callbacks, verbose=verbose,
                       presets_file=presets_file, echo=echo, wait=wait, retention_data=retention_data,
                       replay=replay, **overrides)

    def export(self, format: str = "onnx", *, quantize: int = 32, end2end: bool = False, nms: bool = False,
               data: str | os.PathLike | None = None, dynamic: bool | None = None, batch: int = 1,
               imgsz: int | Sequence[int] | None = None, conf: float = 0.25, iou: float = 0.7, parity: bool = True,
               parity_images: str | os.PathLike | None = None, parity_conf: float = 0.25,
               parity_max_images: int = 32, out_dir: str | os.PathLike | None = None, device: str | None = None,
               runtime_precision: str | None = None) -> ExportResult:
        """Export this model (a `.pt`) for deployment through the parity gate: see `yolo_transfer.export`."""
        from yolo_transfer.exporter.api import export

        return export(self.path, format, quantize=quantize, end2end=end2end, nms=nms, data=data, dynamic=dynamic,
                      batch=batch, imgsz=imgsz, conf=conf, iou=iou, parity=parity, parity_images=parity_images,
                      parity_conf=parity_conf, parity_max_images=parity_max_images, out_dir=out_dir, device=device,
                      runtime_precision=runtime_precision)

    def predict(self, source: str | os.PathLike, out: str | os.PathLike, *, backend: str | None = None,
                imgsz: int | None = None, batch: int | None = None, conf: float = 0.25, iou: float = 0.7,
                max_det: int = 300, classes: Sequence[int] | None = None, device: str | None = None,
                precision: str | None = None, end2end: bool | None = None, workers: int | None = None,
                formats: str | Sequence[str] | None = "jsonl", tile: bool = False, tile_overlap: float = 0.2,
                strict: bool = False, overwrite: bool = False, engine: str = "local",
                ray_address: str | None = None, ray_actors: int | None = None, wait: bool = False,
                show_progress: bool | None = None) -> PredictSummary:
        """Batch inference of this model over `source` into `out`, resumable: see `yolo_transfer.predict`."""
        from yolo_transfer.inference.api import predict

        return predict(self.path, source, out, backend=backend, imgsz=imgsz, batch=batch, conf=conf, iou=iou,
                       max_det=max_det, classes=classes, device=device, precision=precision, end2end=end2end,
                       workers=workers, formats=formats, tile=tile, tile_overlap=tile_overlap, strict=strict,
                       overwrite=overwrite, engine=engine, ray_address=ray_address, ray_actors=ray_actors,
                       wait=wait, show_progress=show_progress)

    @property
    def weights(self) -> Path:
        """The current model file as a `Path`."""
        return Path(self.path)
