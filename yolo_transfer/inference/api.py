"""`predict(model, source, out, ...) -> PredictSummary`: the one entry point behind `yolo-transfer predict`."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from yolo_transfer.errors import UserError
from yolo_transfer.options import ENGINES, PredictOptions, takes
from yolo_transfer.inference.resume import Ledger, check_run
from yolo_transfer.utils.env import check_device, usable_cores
from yolo_transfer.utils.imageread import pixel_limit
from yolo_transfer.utils.io import atomic_write_json, atomic_write_text, check_folder_path
from yolo_transfer.utils.lock import folder_lock


@dataclass
class PredictSummary:
    """What a `predict` run wrote, counted from the committed results of every session into `out`.

    Attributes:
        complete: every image of the source has a result (or an error line).
        images, processed, errors: images in the source, with results, unreadable (listed in `errors.jsonl`).
        detections, per_class, images_with_detections: boxes in all, per class name, images with at least one.
        seconds, images_per_second: inference time over all sessions; this session's throughput.
        model: the model as loaded (`weights`, backend, imgsz, batch, device, precision, head).
        settings, outputs: what the run used, and the files it wrote.
    """

    out: str
    complete: bool
    images: int  # in SOURCE
    processed: int  # with results, all sessions of this --out
    errors: int
    detections: int
    per_class: dict[str, int]
    images_with_detections: int
    seconds: float  # inference time summed over sessions (model loading excluded)
    images_per_second: float  # this session
    this_session: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        lines = [f"# Predictions: {Path(self.model.get('weights', '')).name}", "",
                 f"- images in source: **{self.images}**, with results: **{self.processed}**, "
                 f"errors: **{self.errors}**" + ("" if self.complete else " (**incomplete run**)"),
                 f"- detections: **{self.detections}** on {self.images_with_detections} images",
                 f"- time: {self.seconds:.1f} s, this session {self.this_session.get('images', 0)} images at "
                 f"**{self.images_per_second:.1f} images/s**",
                 f"- model: `{self.model.get('weights')}` ({self.model.get('backend')}, imgsz "
                 f"{self.model.get('imgsz')}, batch {self.model.get('batch')}, {self.model.get('device')}, "
                 f"{str(self.model.get('precision', '')).upper()}, {self.model.get('head', 'one2many')} head), engine "
                 f"{self.settings.get('engine')}"]
        w = self.settings.get("window")
        if w:
            lines.append(f"- intensity window: {w['low']:g},{w['high']:g} ({w['source']}): images above 8 bits map "
                         f"to the model's input through it")
        lines += ["", "| class | detections |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.per_class.items()] or ["| (none) | 0 |"]
        lines += ["", "Outputs: " + ", ".join(f"`{Path(o).name}`" for o in self.outputs)]
        if self.errors:
            lines += ["", f"{self.errors} image(s) could not be read: see `errors.jsonl` for the reasons."]
        return "\n".join(lines) + "\n"


def _weights_path(weights: str | os.PathLike) -> Path:
    path = Path(weights).expanduser()
    if path.exists():
        return path
    if path.suffix.lower() == ".pt":
        from yolo_transfer.weights import resolve_weights

        return resolve_weights(weights)
    raise UserError(f"WEIGHTS {weights} does not exist; give a .pt, .onnx, .engine or *_openvino_model path")


def _load_model(path: Path, backend: str | None, **kwargs):
    """`load_backend`, with a truncated or foreign model file turned into one line (as export and train do)."""
    from yolo_transfer.inference.backends import load_backend

    try:
        return load_backend(path, backend, **kwargs)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - torch/pickle/runtimes raise many types for a file they cannot load
        from yolo_transfer.safeload import refusal

        first = (str(e).strip().splitlines() or [""])[0]
        first = first.replace("ERROR ❌️ ", "").strip()[:240]
        raise refusal(e, path) or UserError(f"{path}: cannot load it as a model ({type(e).__name__}: {first}); check "
                                            f"the file is a complete checkpoint/export (re-copy or re-export it)") from None


def _model_id(path: Path) -> str:
    from yolo_transfer.utils.hashing import sha256_file

    if path.is_file():
        return sha256_file(path)
    st = sorted((p.relative_to(path).as_posix(), p.stat().st_size) for p in path.rglob("*") if p.is_file())
    return f"folder:{st}"


def _open_writers(out: Path, fmts: Sequence[str], names: dict, state) -> list:
    """The chosen writers plus the errors file, each resumed at its committed size (or started fresh)."""
    from yolo_transfer.inference.writers import WRITERS, ErrorsWriter

    writers = [WRITERS[f](out, names) for f in fmts] + [ErrorsWriter(out, names)]
    try:
        for w in writers:
            w.start(state.offsets.get(w.name) if state.commits else None)
    except BaseException:
        for w in writers:
            w.close()
        raise
    return writers


@takes(PredictOptions)
def predict(model: str | os.PathLike, source: str | os.PathLike, out: str | os.PathLike,
            **kwargs: Any) -> PredictSummary:
    """Run `model` (.pt, .onnx, .engine, *_openvino_model) over every image of `source` (a folder, searched
    recursively; a glob; a .txt list of paths; or one image), writing one result per image to `out`; resumes an
    interrupted run in `out`.

    `precision` computes at fp32/fp16/bf16 where the runtime offers the choice (default: as the model was built).
    `end2end` runs a YOLO26 `.pt` on its NMS-free one-to-one head (default: the one-to-many head and NMS, as
    Ultralytics and a default export do); an export runs the head it was built with. Unreadable images go to
    `errors.jsonl` and the run goes on (with `strict=True` the first one raises `UserError`, after everything before
    it is committed). `out` has one writer at a time: while another run writes it, this one is refused with the
    other's pid (`UserError`), or waits for it with `wait=True`. Returns the summary also written to `summary.json`.

    Args:
        model: the model to run.
        source: a folder (searched recursively), a glob, a .txt list of paths, or one image.
        out: the output folder; rerunning with the same folder resumes where the last run stopped.
    """
    opts, _ = PredictOptions.split(kwargs, extra=False)
    return run_predict(model, source, out, opts)


def run_predict(model: str | os.PathLike, source: str | os.PathLike, out: str | os.PathLike,
                opts: PredictOptions) -> PredictSummary:
    """`predict` with its options typed: check them, list the images, and run holding `out`."""
    from yolo_transfer import safeload
    from yolo_transfer.inference.sources import list_images
    from yolo_transfer.inference.writers import parse_formats

    with safeload.loading(opts.trust_checkpoint):
        if opts.engine not in ENGINES:
            raise UserError(f"--engine {opts.engine}: unknown; choose one of {', '.join(ENGINES)}")
        check_device(opts.device)  # the same one-line refusal as train, compare and recommend, before the model loads
        if opts.batch is not None and opts.batch < 1:
            raise UserError(f"--batch {opts.batch}: must be at least 1")
        if not 0 <= opts.conf <= 1 or not 0 <= opts.iou <= 1:
            raise UserError(f"--conf {opts.conf} / --iou {opts.iou}: both must be between 0 and 1")
        if not 0 <= opts.tile_overlap < 1:
            raise UserError(f"--tile-overlap {opts.tile_overlap}: must be in [0, 1)")
        fmts = parse_formats(opts.formats)
        with pixel_limit(opts.max_pixels):
            refs = list_images(source)
            wpath = _weights_path(model)
            out = check_folder_path(out, "--out")
            with folder_lock(out, "predict", wait=opts.wait, other="use another --out"):
                return _predict(wpath, refs, out, fmts, opts)


def _predict(wpath: Path, refs: list, out: Path, fmts: tuple[str, ...], opts: PredictOptions) -> PredictSummary:
    """`predict` once its arguments are checked and `out` is held by this run."""
    from yolo_transfer import windows
    from yolo_transfer.inference.pipeline import InferenceSettings, Predictor
    from yolo_transfer.inference.writers import SUMMARY_FILES, owned_names

    # batch None: the backend's measured default; precision None: the precision the model was built at
    model = _load_model(wpath, opts.backend, imgsz=opts.imgsz, batch=opts.batch, device=opts.device,
                        precision=opts.precision, end2end=opts.end2end)
    window = windows.choose(model.window, opts.window, [r.path for r in refs], "SOURCE")
    settings = InferenceSettings(conf=opts.conf, iou=opts.iou, max_det=opts.max_det,
                                 classes=tuple(int(c) for c in opts.classes) if opts.classes else None,
                                 tile=opts.tile, tile_overlap=opts.tile_overlap, window=window)
    # the precision it really runs at is part of what a resumed run must match: no mixing FP32 and bf16 results
    run = {"model": _model_id(wpath), "backend": model.name, "imgsz": list(model.imgsz), "formats": list(fmts),
           "precision": model.precision, "head": model.head,
           **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()}}
    check_run(out, run, opts.overwrite, owned_names())
    ledger = Ledger(out)
    state = ledger.load()
    todo = [r for r in refs if r.path not in state.done]
    writers = _open_writers(out, fmts, model.names, state)
    predictor = Predictor(model, settings, keep_images=any(w.needs_image for w in writers))
    # Decoding costs a few ms per image: half the cores keep a CPU model fed (it keeps the rest); a GPU up to 8
    n_workers = max(1, opts.workers if opts.workers is not None else min(8, usable_cores() // 2))
    if model.device != "cpu":
        # Accelerators pick kernels and allocate on the first call: before the clock. Not on a CPU: there it costs a
        # batch (8 s, YOLOv8s at 640 on 2 cores, issue 14) and grows the arena to a square rect batches never need.
        model.warmup()
    sink, elapsed, outputs = _stream(wpath, refs, todo, model, settings, predictor, writers, ledger, n_workers, opts)
    total = ledger.load()  # every count from the committed results, each image once: as the outputs hold them
    session = sink.ok + sink.errors
    summary = PredictSummary(
        out=str(out), complete=all(r.path in total.done for r in refs), images=len(refs), processed=total.ok,
        errors=total.errors, detections=sum(total.per_class.values()),
        per_class={model.names.get(k, str(k)): v for k, v in sorted(total.per_class.items())},
        images_with_detections=total.images_with_detections, seconds=round(total.seconds, 3),
        images_per_second=round(session / elapsed, 3) if elapsed > 0 else 0.0,
        this_session={"images": session, "errors": sink.errors, "seconds": round(elapsed, 3),
                      "resumed_from": len(refs) - len(todo)},
        model={"weights": str(wpath), **model.describe()},
        settings={**run, "engine": opts.engine, "workers": n_workers,
                  "letterbox": "rect (shape buckets)" if predictor.rect else "square"},
        outputs=[str(p) for p in (*outputs, *(out / name for name in SUMMARY_FILES))],
    )
    summary_json, summary_md = SUMMARY_FILES
    atomic_write_json(out / summary_json, asdict(summary))
    atomic_write_text(out / summary_md, summary.to_markdown())
    return summary


def _stream(wpath: Path, refs: list, todo: list, model, settings, predictor, writers: list, ledger: Ledger,
            n_workers: int, opts: PredictOptions):
    """Every image still to do through the model into the writers and the ledger; then the whole-file outputs."""
    import cv2

    from yolo_transfer.inference.pipeline import run_local
    from yolo_transfer.inference.sink import Sink
    from yolo_transfer.utils.progress import progress

    bar = progress(total=len(refs), initial=len(refs) - len(todo), desc="predict", unit="img",
                   disable=None if opts.show_progress is None else not opts.show_progress)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # decode threads already run in parallel; OpenCV's own pool would fight the model's
    t0 = time.perf_counter()
    try:
        with Sink(writers, ledger, bar) as sink:
            if opts.engine == "ray":
                from yolo_transfer.inference.ray_engine import run_ray

                results = run_ray(wpath, todo, model, settings, predictor.keep_images, address=opts.ray_address,
                                  actors=opts.ray_actors, precision=opts.precision)
            else:
                results = run_local(predictor, todo, workers=n_workers)
            for r in results:
                if opts.strict and r.error is not None:
                    raise UserError(f"{r.ref.path}: {r.error} (--strict stops at the first unusable image; results "
                                    f"so far are kept, rerun without --strict to list bad images in errors.jsonl)")
                sink.put(r)
        elapsed = time.perf_counter() - t0
        outputs: list[Path] = []
        for w in writers:  # every image of SOURCE is in the ledger now: assemble whole-file outputs
            outputs += w.finish()
    finally:
        cv2.setNumThreads(threads)
        bar.close()
        for w in writers:
            w.close()
    return sink, elapsed, outputs
