"""`export`: Ultralytics' exporter + deployable metadata + the parity gate, with atomic outputs.

The export is built in a hidden temporary folder beside its destination and moved into place only when complete,
so an interrupted or failed export never leaves a half-written `best.onnx` (or replaces a good one).

A `.pt` checkpoint loads restricted (`yolo_transfer.safeload`), unless `trust_checkpoint`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from yolo_transfer.errors import ParityFailed, UserError
from yolo_transfer.options import ExportOptions, takes
from yolo_transfer.exporter.formats import ExportFormat, get_format, precision_of
from yolo_transfer.exporter.parity import ParityReport, check_parity, report_paths
import yolo_transfer.heads as heads
import yolo_transfer.windows as windows
from yolo_transfer.runtimes import THRESHOLDS
from yolo_transfer.training.reader import reading
from yolo_transfer.utils.hashing import sha256_file
from yolo_transfer.utils.io import atomic_write_yaml, naming_errors


@dataclass
class ExportResult:
    """What `export` built and what the parity gate said about it.

    Attributes:
        path: the export (a file, or OpenVINO's folder), moved into place only when complete.
        format: `onnx`, `openvino` or `engine`.
        precision: what it was built at: `fp32`, `fp16` or `int8`.
        source: the `.pt` it was exported from.
        metadata: the provenance stamped into it (source hash, preset, imgsz, head, precision ...).
        head: the head it runs (`yolo_transfer.heads`: `one2many`, `end2end`, `nms`), read back from its metadata.
        parity: the gate's `ParityReport` (None with `parity=False`); `passed` says its verdict.
        parity_path: `<export>.parity.json` (beside it: `.md` and `.png`).
        notes: one line each that a user of the export should know (a head fallback, Ultralytics' own runner).
    """

    path: Path
    format: str
    precision: str
    source: Path
    metadata: dict[str, Any]
    head: str = heads.ONE2MANY  # the head the export runs (`yolo_transfer.heads`), read back from its metadata
    parity: ParityReport | None = None
    parity_path: Path | None = None
    seconds: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each: what a user of the export should know

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
        try:  # the run record training writes: the preset and the checkpoint it started from
            rec = TransferRecord.read(run_dir)
            if rec.preset:
                meta["preset"] = str(rec.preset)
            src = rec.source or {}
            if src.get("path"):
                meta["pretrained_from"] = str(src["path"])
            if src.get("sha256"):
                meta["pretrained_sha256"] = str(src["sha256"])
        except (UserError, AttributeError, TypeError):
            pass  # a broken transfer.json must not block an export; the hash still identifies the checkpoint
    try:
        meta["exported_by"] = f"yolo-transfer {version('yolo-transfer')}"
    except PackageNotFoundError:
        meta["exported_by"] = "yolo-transfer"
    return meta


def _add_onnx_metadata(path: Path, extra: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props} | extra
    onnx.helper.set_model_props(model, {k: str(v) for k, v in props.items()})
    onnx.save(model, str(path))  # still inside the temporary build folder: the move into place is the atomic step


def _add_openvino_metadata(folder: Path, extra: dict[str, str]) -> None:
    import yaml

    meta_file = folder / "metadata.yaml"
    meta = yaml.safe_load(meta_file.read_text()) if meta_file.exists() else {}
    meta.update(extra)
    atomic_write_yaml(meta_file, meta)


def _add_engine_metadata(path: Path, extra: dict[str, str]) -> None:
    """TensorRT: Ultralytics writes its metadata as a length-prefixed JSON header before the engine bytes."""
    import json

    data = path.read_bytes()
    size = int.from_bytes(data[:4], byteorder="little")
    meta = json.loads(data[4:4 + size].decode("utf-8")) if 0 < size < 1 << 20 else {}
    engine = data[4 + size:] if meta else data
    head = json.dumps({**meta, **extra}).encode("utf-8")
    path.write_bytes(len(head).to_bytes(4, byteorder="little", signed=True) + head + engine)


# How each runtime's export carries our provenance and window (no entry: Ultralytics' metadata only).
METADATA_WRITERS = {"onnx": _add_onnx_metadata, "openvino": _add_openvino_metadata, "engine": _add_engine_metadata}


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


@takes(ExportOptions)
def export(model: str | Path, **kwargs: Any) -> ExportResult:
    """Export `model` (a `.pt` checkpoint) to `format`, stamp provenance metadata, and run the parity gate.

    The default head is the one-to-many head with NMS afterwards, as Ultralytics' `yolo export` and `.pt` predictions;
    `end2end` exports YOLO26's NMS-free one-to-one head and the gate runs the `.pt` reference with the same head.
    `nms` bakes NMS with `conf`/`iou` into the graph, which then drops boxes below `conf`, so the gate only judges
    boxes scoring at least `conf` plus the precision's score tolerance. `dynamic=None` uses the format's default
    (ONNX/OpenVINO dynamic, TensorRT static). The export lands with `<export>.parity.{json,md,png}` beside it.

    Check `result.passed` or call `result.raise_for_parity()`. A `.pt` loads restricted unless
    `trust_checkpoint`.

    Args:
        model: the `.pt` checkpoint to export.
    """
    opts, _ = ExportOptions.split(kwargs, extra=False)
    return run_export(model, opts)


def _check(opts: ExportOptions, fmt: ExportFormat, precision: str) -> None:
    """Every bad option refused in one line before any work."""
    fmt.requirements(precision)  # missing runtime / no GPU is a one-line error
    fmt.run_precision(precision, opts.runtime_precision)  # a precision this runtime cannot run at, likewise
    if precision == "int8" and opts.data is None:
        raise UserError("--quantize 8 (INT8) calibrates on a dataset: pass --data path/to/data.yaml")
    if opts.data is not None and not Path(opts.data).is_file():
        raise UserError(f"--data {opts.data} not found: pass the data.yaml of your dataset")
    if opts.batch < 1:
        raise UserError(f"--batch must be >= 1 (got {opts.batch})")
    if opts.nms and not (0.0 < opts.conf < 1.0 and 0.0 < opts.iou < 1.0):
        raise UserError(f"--conf and --iou baked into an --nms export must be in (0, 1) (got {opts.conf}, {opts.iou})")
    if opts.parity and not 0.0 < opts.parity_conf <= 1.0:
        raise UserError(f"--parity-conf must be in (0, 1] (got {opts.parity_conf})")
    if opts.parity_images is not None and not Path(opts.parity_images).exists():
        raise UserError(f"--parity-images {opts.parity_images} not found: pass an existing image folder or file")


def run_export(model: str | Path, opts: ExportOptions) -> ExportResult:
    """`export` with its options typed: check, build, then gate."""
    from yolo_transfer import safeload

    with safeload.loading(opts.trust_checkpoint):
        return _export(model, opts)


def _export(model: str | Path, opts: ExportOptions) -> ExportResult:
    fmt: ExportFormat = get_format(opts.format)
    precision = precision_of(opts.quantize)
    head = heads.requested(opts.end2end, opts.nms)
    _check(opts, fmt, precision)
    source = resolve_checkpoint(model).resolve()
    dynamic = fmt.default_dynamic if opts.dynamic is None else bool(opts.dynamic)
    out_dir = Path(opts.out_dir) if opts.out_dir is not None else source.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    extra = run_metadata(source)
    target, size, args = _build(source, fmt, precision, head, dynamic, out_dir, extra, opts)
    got = heads.of_export(target)
    meta = {**extra, "imgsz": size, "dynamic": dynamic, "batch": opts.batch, "head": got, "precision": precision}
    result = ExportResult(path=target, format=fmt.name, precision=precision, source=source, metadata=meta, head=got,
                          seconds=round(time.perf_counter() - t0, 2), args=args)
    if got != head:  # Ultralytics fell back to another head for this format/precision (it only logs a warning)
        result.notes.append("note: " + heads.mismatch(head, got, f"the {fmt.title} export"))
    if opts.parity:
        _gate(result, opts, fmt, head, size)
    return result


def _build(source: Path, fmt: ExportFormat, precision: str, head: str, dynamic: bool, out_dir: Path, extra: dict,
           opts: ExportOptions) -> tuple[Path, Any, dict]:
    """Ultralytics' exporter on a copy of the checkpoint in a temporary folder; the export moved into place."""
    from ultralytics import YOLO

    from yolo_transfer.safeload import refusal

    build = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    try:
        with naming_errors(out_dir, str(out_dir / ".export-")):  # a full disk names the output, not the temp
            staged = build / source.name
            shutil.copy2(source, staged)  # a copy, not a link: the exporter can never touch the user's checkpoint
            try:
                yolo = YOLO(str(staged))
            except Exception as e:  # noqa: BLE001 - torch/pickle raise many types for a file that is not a checkpoint
                raise refusal(e, source) or UserError(f"{source}: cannot load it as an Ultralytics checkpoint "
                                                      f"({type(e).__name__}: {str(e).strip()[:200]})") from None
            if getattr(yolo, "task", "detect") != "detect":
                raise UserError(f"{source}: a '{yolo.task}' model; export supports detection checkpoints only")
            if head == heads.END2END and not heads.has_end2end(yolo):
                raise UserError(f"{source}: --end2end exports YOLO26's NMS-free head, and this model has none (a "
                                f"classic one-to-many head); drop --end2end")
            size = _imgsz(opts.imgsz, dict(getattr(yolo.model, "args", {}) or {}))
            window = windows.of_model(yolo.model)  # carried into the export: predict applies it from there
            extra.update(windows.metadata(window))
            args = dict(format=fmt.name, imgsz=size, dynamic=dynamic, batch=opts.batch,
                        nms=heads.ultralytics_nms(head), device=opts.device or fmt.export_device, verbose=False)
            # ONNX INT8 is built by yolo_transfer.exporter.quantize from the FP32 export (Detect head's box branch kept
            # FP32, calibrated on `data`); Ultralytics' own quantize=8 moves the boxes (issue 14).
            own_int8 = fmt.name == "onnx" and precision == "int8"
            if precision != "fp32" and not own_int8:
                args["quantize"] = 16 if precision == "fp16" else 8
            if head == heads.NMS:
                args.update(conf=opts.conf, iou=opts.iou)
            if opts.data is not None:
                args["data"] = str(Path(opts.data).resolve())
            try:
                with reading(window):  # Ultralytics' INT8 calibration loader reads as training did
                    built = Path(yolo.export(**args))
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - Ultralytics raises assorted types; give one line, keep the cause
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                raise UserError(f"{fmt.title} export of {source} failed: {first}") from e
            if not built.is_absolute():
                built = build / built.name
            if own_int8:
                from yolo_transfer.exporter.quantize import quantize_onnx

                built = quantize_onnx(built, built.with_name(f"{built.stem}_int8{built.suffix}"), opts.data,
                                      window=window).path
            if fmt.name in METADATA_WRITERS:
                METADATA_WRITERS[fmt.name](built, extra)
            target = out_dir / built.name
            for old in report_paths(target).values():
                old.unlink(missing_ok=True)  # the last verdict must not stand beside this export if the gate stops
            _move_into_place(built, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target, size, args


def _gate(result: ExportResult, opts: ExportOptions, fmt: ExportFormat, head: str, size) -> None:
    """The parity gate on the export in place; its report and notes go on `result`."""
    precision, got = result.precision, result.head
    run_at = fmt.run_precision(precision, opts.runtime_precision)
    parity_conf = opts.parity_conf
    if got == heads.NMS:  # boxes under the baked threshold are gone from the graph's output: judge those well above
        parity_conf = max(parity_conf, round(opts.conf + THRESHOLDS[run_at].max_score_error, 6))
    report = check_parity(result.source, result.path, precision=precision, imgsz=size, images=opts.parity_images,
                          data=opts.data, conf=parity_conf, iou=opts.iou, max_images=opts.parity_max_images,
                          device=opts.device or fmt.export_device, runtime_precision=opts.runtime_precision,
                          head=head)
    result.parity = report
    result.parity_path = report_paths(result.path)["json"]
    if report.runner_note:
        result.notes.append(report.runner_note)
    if not report.passed and precision != "fp32" and got == heads.END2END:
        # measured on yolo26n: docs/evidence/heads.md#parity-on-yolo26n
        result.notes.append(f"note: at {precision.upper()}, rounding can switch which anchor the NMS-free head "
                            f"keeps for an object (a near-identical box with another score); for reduced "
                            f"precision export without --end2end")
