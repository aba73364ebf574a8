"""`yolo-transfer demo`: the whole product on a built-in task in a few minutes on a CPU, offline.

The story it tells: a detector for a new domain (synthetic surface defects) learns in a few epochs when it starts
from a pretrained model, and does not from random weights. It generates the dataset (deterministic); starts from the
COCO checkpoint `yolo26n.pt` when it is at hand, else from the project's own cached source model
(`yolo_transfer.source_model`); compares `frozen-backbone` and `full` at equal epochs beside the same architecture
from random init; exports the winner to ONNX through the parity gate and runs batch inference over the val images.

Ultralytics' logs go to `log.txt` in the demo folder (shown with `verbose=True`); `demo.json` holds the numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from yolo_transfer.errors import UserError
from yolo_transfer.options import METRIC50, DemoOptions
from yolo_transfer.weights import DEFAULT_MODEL

# Tuned so a first run (source model included) fits in ~5 minutes on 2 CPU cores; every trial (scratch too): nbs 8
# with batch 8 (one optimizer step per batch, so a few epochs are enough steps), AdamW at lr0 0.002, no warm-up.
SOURCE_RECIPE = None  # None: `SourceRecipe()`; tests swap in a tiny one
TRAIN_ARGS = {"nbs": 8, "optimizer": "AdamW", "lr0": 0.002, "warmup_epochs": 0, "workers": 0, "cache": "ram",
              "plots": False}


@dataclass
class DemoResult:
    dir: Path
    data: Path
    start: str  # the checkpoint every transfer trial started from
    start_kind: str  # "coco" or "source"
    compare: Any  # CompareResult
    scratch: Any  # compare.summary.Trial: the from-scratch baseline
    export: Any = None  # ExportResult
    predict: Any = None  # PredictSummary
    seconds: float = 0.0
    numbers: dict = field(default_factory=dict)


def _architecture(checkpoint: str) -> str:
    """The YAML a checkpoint was built from (`yolo26n.yaml`): the from-scratch baseline is the same network."""
    from yolo_transfer.anatomy import load_detection_model

    return str(load_detection_model(checkpoint).model.yaml.get("yaml_file") or "yolo11n.yaml")


def run_demo(model: str = DEFAULT_MODEL, opts: DemoOptions | None = None, *, source_recipe=None,
             echo: Callable[[str], None] | None = None) -> DemoResult:
    """The five steps, each a line: dataset, start, transfer (compare + scratch), export through the gate, predict."""
    from ultralytics.utils.files import increment_path

    from yolo_transfer.utils.console import quiet
    from yolo_transfer.utils.io import atomic_write_json, check_folder_path

    o = opts or DemoOptions()
    t0 = time.time()
    # runs/demo, runs/demo-2, ...: every demo run is fresh (compare would otherwise resume a finished one)
    out = increment_path(check_folder_path(o.project, "--project") / o.name, sep="-", mkdir=True)
    with quiet(out / "log.txt", verbose=o.verbose) as q:
        say = echo or q.echo
        say(f"demo folder: {out}" + ("" if o.verbose else f" (Ultralytics' log: {out / 'log.txt'})"))
        data = _dataset(o, say)
        start, kind, arch = _start(model, o, source_recipe, say)
        cmp, scratch = _transfer(start, arch, data, out, o, say)
        w = cmp.winner
        exp, summary = _deploy(Path(w.run_dir) / "weights" / "best.pt", data, out, o, say)
        seconds = time.time() - t0
        numbers = {
            "start": start, "start_kind": kind, "epochs": o.epochs, "imgsz": o.imgsz, "seconds": round(seconds, 1),
            "winner": w.preset, "trials": {t.preset: {"mAP50": float(t.best.get("mAP50", 0.0)), "mAP50-95": t.score,
                                                      "seconds": t.seconds} for t in cmp.trials},
            "scratch": {"mAP50": _map50(scratch), "mAP50-95": scratch.score, "seconds": scratch.seconds},
            "export": {"path": str(exp.path), "parity_passed": bool(exp.passed)},
            "predict": {"images": summary.images, "processed": summary.processed, "boxes": summary.detections},
        }
        atomic_write_json(out / "demo.json", numbers)
        say(f"done in {seconds:.0f} s: {out / 'demo.json'}")
    return DemoResult(out, Path(data), start, kind, cmp, scratch, exp, summary, seconds, numbers)


def _map50(t) -> float:
    return float(t.best.get("mAP50", t.metrics.get(METRIC50, 0.0)))


def _dataset(o: DemoOptions, say) -> Path:
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

    spec = SynthSpec(train=o.train_images, val=o.val_images, imgsz=o.imgsz)
    # named by what it holds: another --imgsz, or a folder left by an older generator, is another dataset, not a
    # clash (make_synthetic_dataset refuses to reuse a folder made with other settings)
    spec = replace(spec, name=f"{spec.name}-v{spec.manifest()['version']}-{o.imgsz}px-{o.train_images}-{o.val_images}")
    data = make_synthetic_dataset(o.datasets, spec)
    say(f"1. dataset: {data} ({o.train_images} train / {o.val_images} val images, {o.imgsz} px; defects: "
        f"scratch, spot, crack)")
    return data


def _start(model: str, o: DemoOptions, source_recipe, say) -> tuple[str, str, str]:
    """The COCO checkpoint when it is at hand, else the project's own source model: (path, kind, architecture)."""
    from yolo_transfer.utils.console import epoch_line
    from yolo_transfer.weights import resolve_weights

    try:
        start = str(resolve_weights(model))
        say(f"2. start: COCO checkpoint {start}")
        return start, "coco", _architecture(start)
    except UserError:
        from yolo_transfer.source_model import SourceRecipe, source_model

        say(f"2. start: no COCO checkpoint at hand ({model} is not on this machine and cannot be downloaded); "
            f"using the project's own source model")
        recipe = source_recipe or SOURCE_RECIPE or SourceRecipe()
        src = source_model(recipe, device=o.device, verbose=o.verbose, on_build=say,
                           callbacks={"on_fit_epoch_end": epoch_line(say, "   source ", metrics=False)})
        say(f"   {src.summary}")
        return str(src.path), "source", recipe.model


def _transfer(start: str, arch: str, data: Path, out: Path, o: DemoOptions, say):
    """frozen-backbone vs full from the start, and the same architecture from scratch, at equal epochs."""
    from yolo_transfer.comparison.api import compare
    from yolo_transfer.comparison.plan import TrialSpec
    from yolo_transfer.comparison.summary import Trial, table
    from yolo_transfer.training.api import train_preset
    from yolo_transfer.utils.console import epoch_line

    common = dict(imgsz=o.imgsz, batch=o.batch, device=o.device, **TRAIN_ARGS)
    say(f"3. transfer to the defects: frozen-backbone vs full, {o.epochs} epochs each, then the same from scratch")
    cmp = compare(start, data, presets=("frozen-backbone", "full"), epochs=o.epochs, project=out, name="compare",
                  verbose=o.verbose, echo=lambda s: say("   " + s.strip()),
                  callbacks={"on_fit_epoch_end": epoch_line(say, "      ")}, **common)
    say(f"   baseline: {arch} (the same architecture, random init), preset full, {o.epochs} epochs")
    res = train_preset(arch, data, preset="full", epochs=o.epochs, project=out, name="scratch",
                       verbose=o.verbose, callbacks={"on_fit_epoch_end": epoch_line(say, "      ")}, **common)
    scratch = Trial.from_record(TrialSpec("full", 0, 1.0), res.record, error=res.error)
    scratch.id = f"scratch: {arch} full"
    say("")
    for line in table(cmp.trials + [scratch], cmp.winner).splitlines():
        say(line)
    w = cmp.winner
    if w is None:
        raise UserError(f"no transfer trial finished ({cmp.how.get('reason')}); see {out / 'log.txt'}")
    say(f"winner: {w.preset} (mAP50 {_map50(w):.3f} vs {_map50(scratch):.3f} from scratch; rule: best mAP50-95, "
        f"ties go to the cheaper); report: {cmp.files['report.html']}")
    return cmp, scratch


def _deploy(best_pt: Path, data: Path, out: Path, o: DemoOptions, say):
    """The winner exported to ONNX through the parity gate, then batch inference with the export."""
    from yolo_transfer.exporter.api import export
    from yolo_transfer.inference.api import predict

    exp = export(best_pt, "onnx", imgsz=o.imgsz, data=data)
    say(f"4. exported {exp.path}: {exp.parity.summary()}")
    exp.raise_for_parity()
    images = Path(data).parent / "images" / "val"
    summary = predict(exp.path, images, out / "predictions", formats="jsonl,csv", conf=o.conf, show_progress=False)
    say(f"5. batch inference (ONNX Runtime): {summary.processed}/{summary.images} images, {summary.detections} "
        f"boxes, {summary.images_per_second:.1f} images/s -> {summary.out}")
    return exp, summary
