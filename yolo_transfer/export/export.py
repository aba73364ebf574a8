"""`export_model`: Ultralytics' exporter + deployable metadata + the parity gate, with atomic outputs.

The export is built in a hidden temporary folder beside its destination and moved into place only when complete,
so an interrupted or failed export never leaves a half-written `best.onnx` (or replaces a good one).

Loading a `.pt` checkpoint runs Python pickle: only export checkpoints you trust.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from yolo_transfer.errors import UserError
from yolo_transfer.export.formats import ExportFormat, get_format, precision_of
from yolo_transfer.export.parity import THRESHOLDS, ParityFailed, ParityReport, check_parity
from yolo_transfer.utils.hashing import sha256_file
from yolo_transfer.utils.io import atomic_write_yaml


@dataclass
class ExportResult:
    path: Path
    format: str
    precision: str
    source: Path
    metadata: dict[str, Any]
    parity: ParityReport | None = None
    parity_path: Path | None = None
    seconds: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        return None if self.parity is None else self.parity.passed

    def raise_for_parity(self) -> None:
        """Raise `ParityFailed` (one line: what differed + the report file) when the gate failed."""
        if self.parity is not None and not self.parity.passed:
            raise ParityFailed(f"{self.parity.summary()}; report: {self.parity_path}")


def resolve_checkpoint(weights: str | Path) -> Path:
    from yolo_transfer.weights import CHECKPOINT_SUFFIXES, resolve_weights

    path = Path(resolve_weights(weights))
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise UserError(f"{path}: export needs a PyTorch .pt checkpoint (got '{path.suffix or 'no suffix'}')")
    return path


def run_metadata(weights: Path) -> dict[str, str]:
    """What we add to the model's metadata: provenance a deployment can check."""
    from importlib.metadata import PackageNotFoundError, version

    from yolo_transfer.training.record import TransferRecord

    meta = {"source_weights": weights.name, "source_sha256": sha256_file(weights)}
    run_dir = weights.parent.parent  # runs/<name>/weights/best.pt -> runs/<name>/transfer.json
    if TransferRecord.exists(run_dir):
        try:
            info = TransferRecord.read(run_dir).to_dict()
            if info.get("preset"):
                meta["preset"] = str(info["preset"])
            if info.get("source_weights"):
                meta["pretrained_from"] = str(info["source_weights"])
        except (UserError, AttributeError):
            pass  # a broken transfer.json must not block an export; the hash still identifies the checkpoint
    try:
        meta["exported_by"] = f"yolo-transfer {version('yolo-transfer')}"
    except PackageNotFoundError:
        meta["exported_by"] = "yolo-transfer"
    return meta


def _add_onnx_metadata(path: Path, extra: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(extra)
    del model.metadata_props[:]
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.save(model, str(path))  # still inside the temporary build folder: the move into place is the atomic step


def _add_openvino_metadata(folder: Path, extra: dict[str, str]) -> None:
    import yaml

    meta_file = folder / "metadata.yaml"
    meta = yaml.safe_load(meta_file.read_text()) if meta_file.exists() else {}
    meta.update(extra)
    atomic_write_yaml(meta_file, meta)


def _move_into_place(built: Path, target: Path) -> None:
    """Replace `target` with `built` so a reader sees the old export or the new one, never a mix."""
    if built.is_dir():
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(built, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(built, target)


def _imgsz(value: int | Sequence[int] | None, weights_args: dict) -> int | list[int]:
    if value is None:
        value = weights_args.get("imgsz", 640)
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value] if len(value) == 2 else int(value[0])
    return int(value)


def export_model(weights: str | Path, format: str = "onnx", *, half: bool = False, int8: bool = False,
                 data: str | Path | None = None, dynamic: bool | None = None, batch: int = 1,
                 imgsz: int | Sequence[int] | None = None, nms: bool = False, conf: float = 0.25,
                 iou: float = 0.7, parity: bool = True,
                 parity_images: str | Path | None = None, parity_conf: float = 0.25, parity_max_images: int = 32,
                 out_dir: str | Path | None = None, device: str | None = None) -> ExportResult:
    """Export `weights` to `format`, stamp provenance metadata, and run the parity gate (unless `parity=False`).

    `dynamic=None` uses the format's default (ONNX/OpenVINO dynamic, TensorRT static). `int8` calibrates on
    `data`'s images. `nms=True` bakes NMS with `conf`/`iou` into the graph: the graph then drops boxes below `conf`,
    so the gate only judges boxes scoring at least `conf` plus the precision's score tolerance.
    The export lands beside the checkpoint (or in `out_dir`); with the gate,
    `<export>.parity.{json,md,png}` land beside it. Check `result.passed` or call `result.raise_for_parity()`.
    """
    fmt: ExportFormat = get_format(format)
    precision = precision_of(half, int8)
    fmt.requirements(precision)  # before any work: missing runtime / no GPU is a one-line error
    if int8 and data is None:
        raise UserError("--int8 calibrates on a dataset: pass --data path/to/data.yaml")
    if data is not None and not Path(data).is_file():
        raise UserError(f"--data {data} not found: pass the data.yaml of your dataset")
    if batch < 1:
        raise UserError(f"--batch must be >= 1 (got {batch})")
    if nms and not (0.0 < conf < 1.0 and 0.0 < iou < 1.0):
        raise UserError(f"--conf and --iou baked into an --nms export must be in (0, 1) (got {conf}, {iou})")
    if parity and not 0.0 < parity_conf <= 1.0:
        raise UserError(f"--parity-conf must be in (0, 1] (got {parity_conf})")
    if parity_images is not None and not Path(parity_images).exists():
        raise UserError(f"--parity-images {parity_images} not found: pass an existing image folder or file")
    source = resolve_checkpoint(weights).resolve()
    dynamic = fmt.default_dynamic if dynamic is None else bool(dynamic)
    out_dir = Path(out_dir) if out_dir is not None else source.parent
    out_dir.mkdir(parents=True, exist_ok=True)

    from ultralytics import YOLO

    t0 = time.perf_counter()
    extra = run_metadata(source)
    build = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        staged = build / source.name
        shutil.copy2(source, staged)  # a copy, not a link: nothing the exporter does can touch the user's checkpoint
        try:
            model = YOLO(str(staged))
        except Exception as e:  # noqa: BLE001 - torch/pickle raise many types for a file that is not a checkpoint
            raise UserError(f"{source}: cannot load it as an Ultralytics checkpoint ({type(e).__name__}: "
                            f"{str(e).strip()[:200]})") from None
        if getattr(model, "task", "detect") != "detect":
            raise UserError(f"{source}: a '{model.task}' model; export supports detection checkpoints only")
        size = _imgsz(imgsz, dict(getattr(model.model, "args", {}) or {}))
        args = dict(format=fmt.ultralytics, imgsz=size, dynamic=dynamic, batch=batch, nms=nms,
                    device=device or fmt.device, verbose=False)
        if precision != "fp32":
            args["quantize"] = 16 if precision == "fp16" else 8
        if nms:
            args.update(conf=conf, iou=iou)
        if data is not None:
            args["data"] = str(Path(data).resolve())
        try:
            built = Path(model.export(**args))
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - Ultralytics raises assorted types; give one line, keep the cause
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise UserError(f"{fmt.title} export of {source} failed: {first}") from e
        if not built.is_absolute():
            built = build / built.name
        if fmt.name == "onnx":
            _add_onnx_metadata(built, extra)
        elif fmt.name == "openvino":
            _add_openvino_metadata(built, extra)
        target = out_dir / built.name
        _move_into_place(built, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)

    meta = {**extra, "imgsz": size, "dynamic": dynamic, "batch": batch, "nms": nms, "precision": precision}
    if nms:  # boxes under the baked threshold are gone from the graph's output: judge only those safely above it
        parity_conf = max(parity_conf, round(conf + THRESHOLDS[precision].max_score_error, 6))
    result = ExportResult(path=target, format=fmt.name, precision=precision, source=source, metadata=meta,
                          seconds=round(time.perf_counter() - t0, 2), args=args)
    if parity:
        report = check_parity(source, target, precision=precision, imgsz=size, images=parity_images, data=data,
                              conf=parity_conf, iou=iou, max_images=parity_max_images,
                              device=device or fmt.device)
        result.parity = report
        result.parity_path = target.with_name(target.name + ".parity.json")
    return result
