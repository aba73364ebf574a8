"""`yolo-transfer demo`: the whole product on a built-in task in a few minutes on a CPU, offline.

The story it tells: a detector for a new domain (synthetic surface defects: bright straight scratches, dark jagged
cracks, stains) learns in a few epochs when it starts from a pretrained model, and does not when it starts from
random weights. Steps:

1. the defect dataset is generated (`datasets/synthetic-defects-v2-<imgsz>px-<train>-<val>`, deterministic);
2. the starting point: the official COCO checkpoint `yolo26n.pt` when it is at hand (in `$YOLO_TRANSFER_WEIGHTS`,
   Ultralytics' weights folder, or downloaded when online), else the project's own source model (pretrained once on
   a generated source domain and cached, see `yolo_transfer.source_model`);
3. `compare` of `frozen-backbone` and `full` from that start at the same budget (epochs), plus the same training of
   the same architecture from random init (its YAML, preset `full`) as the baseline: one table;
4. the winner is exported to ONNX through the parity gate and runs batch inference over the val images.

Ultralytics' logs go to `log.txt` in the demo folder (shown with `verbose=True`); the terminal gets a line per step
and per epoch. `demo.json` holds the numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from yolo_transfer.errors import UserError
from yolo_transfer.options import CONF
from yolo_transfer.weights import DEFAULT_MODEL

# The budget: tuned so the first run (source model included) fits in ~5 minutes on 2 CPU cores. The same compact
# recipe is used for every trial (scratch included): batch 8 with nbs 8 (one optimizer step per batch, so a few epochs
# are enough steps), AdamW at lr0 0.002 without warm-up.
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


def _new_dir(project: str | Path, name: str) -> Path:
    """runs/demo, runs/demo-2, ...: every demo run is fresh (compare would otherwise resume a finished one)."""
    base = Path(project) / name
    d, k = base, 1
    while d.exists():
        k += 1
        d = base.with_name(f"{name}-{k}")
    d.mkdir(parents=True)
    return d


def run_demo(model: str = DEFAULT_MODEL, epochs: int = 8, imgsz: int = 128, project: str | Path = "runs",
             datasets: str | Path = "datasets", name: str = "demo", train_images: int = 160, val_images: int = 40,
             batch: int = 8, source_recipe=None, device: str = "cpu", verbose: bool = False, conf: float = CONF,
             echo: Callable[[str], None] | None = None) -> DemoResult:
    from yolo_transfer.comparison.api import compare
    from yolo_transfer.comparison.plan import TrialSpec
    from yolo_transfer.comparison.summary import Trial, table
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset
    from yolo_transfer.utils.console import epoch_line, quiet
    from yolo_transfer.utils.io import atomic_write_json, check_folder_path
    from yolo_transfer.weights import resolve_weights

    t0 = time.time()
    out = _new_dir(check_folder_path(project, "--project"), name)
    with quiet(out / "log.txt", verbose=verbose) as q:
        say = echo or q.echo
        say(f"demo folder: {out}" + ("" if verbose else f" (Ultralytics' log: {out / 'log.txt'})"))
        spec = SynthSpec(train=train_images, val=val_images, imgsz=imgsz)
        # named by what it holds: another --imgsz, or a folder left by an older generator, is another dataset, not a
        # clash (make_synthetic_dataset refuses to reuse a folder made with other settings)
        spec = replace(spec, name=f"{spec.name}-v{spec.manifest()['version']}-{imgsz}px-{train_images}-{val_images}")
        data = make_synthetic_dataset(datasets, spec)
        say(f"1. dataset: {data} ({train_images} train / {val_images} val images, {imgsz} px; defects: "
            f"scratch, spot, crack)")

        try:
            start, kind = str(resolve_weights(model)), "coco"
            arch = _architecture(start)
            say(f"2. start: COCO checkpoint {start}")
        except UserError:
            from yolo_transfer.source_model import SourceRecipe, source_model

            say(f"2. start: no COCO checkpoint at hand ({model} is not on this machine and cannot be downloaded); "
                f"using the project's own source model")
            src = source_model(source_recipe or SOURCE_RECIPE or SourceRecipe(), device=device, verbose=verbose, on_build=say,
                               callbacks={"on_fit_epoch_end": epoch_line(say, "   source ", metrics=False)})
            say(f"   {src.summary}")
            start, kind = str(src.path), "source"
            arch = (source_recipe or SOURCE_RECIPE or SourceRecipe()).model

        common = dict(imgsz=imgsz, batch=batch, device=device, **TRAIN_ARGS)
        say(f"3. transfer to the defects: frozen-backbone vs full, {epochs} epochs each, then the same from scratch")
        cmp = compare(start, data, presets=("frozen-backbone", "full"), epochs=epochs, project=out, name="compare",
                      verbose=verbose, echo=lambda s: say("   " + s.strip()),
                      callbacks={"on_fit_epoch_end": epoch_line(say, "      ")}, **common)
        from yolo_transfer.training.api import train_preset

        say(f"   baseline: {arch} (the same architecture, random init), preset full, {epochs} epochs")
        res = train_preset(arch, data, preset="full", epochs=epochs, project=out, name="scratch",
                           verbose=verbose, callbacks={"on_fit_epoch_end": epoch_line(say, "      ")}, **common)
        scratch = Trial.from_record(TrialSpec("full", 0, 1.0), res.record, error=res.error)
        scratch.id = f"scratch: {arch} full"
        say("")
        for line in table(cmp.trials + [scratch], cmp.winner).splitlines():
            say(line)
        w = cmp.winner
        if w is None:
            raise UserError(f"no transfer trial finished ({cmp.how.get('reason')}); see {out / 'log.txt'}")
        best_map50 = float(w.best.get("mAP50", w.metrics.get("metrics/mAP50(B)", 0.0)))
        scratch_map50 = float(scratch.best.get("mAP50", scratch.metrics.get("metrics/mAP50(B)", 0.0)))
        say(f"winner: {w.preset} (mAP50 {best_map50:.3f} vs {scratch_map50:.3f} from scratch; rule: best mAP50-95, "
            f"ties go to the cheaper); report: {cmp.files['report.html']}")

        from yolo_transfer.exporter.api import export

        best_pt = Path(w.run_dir) / "weights" / "best.pt"
        exp = export(best_pt, "onnx", imgsz=imgsz, data=data)
        say(f"4. exported {exp.path}: {exp.parity.summary()}")
        exp.raise_for_parity()

        from yolo_transfer.inference.api import predict

        images = Path(data).parent / "images" / "val"
        summary = predict(exp.path, images, out / "predictions", formats="jsonl,csv", conf=conf,
                          show_progress=False)
        say(f"5. batch inference (ONNX Runtime): {summary.processed}/{summary.images} images, {summary.detections} "
            f"boxes, {summary.images_per_second:.1f} images/s -> {summary.out}")
        seconds = time.time() - t0
        numbers = {
            "start": start, "start_kind": kind, "epochs": epochs, "imgsz": imgsz, "seconds": round(seconds, 1),
            "winner": w.preset, "trials": {t.preset: {"mAP50": float(t.best.get("mAP50", 0.0)), "mAP50-95": t.score,
                                                      "seconds": t.seconds} for t in cmp.trials},
            "scratch": {"mAP50": scratch_map50, "mAP50-95": scratch.score, "seconds": scratch.seconds},
            "export": {"path": str(exp.path), "parity_passed": bool(exp.passed)},
            "predict": {"images": summary.images, "processed": summary.processed, "boxes": summary.detections},
        }
        atomic_write_json(out / "demo.json", numbers)
        say(f"done in {seconds:.0f} s: {out / 'demo.json'}")
    return DemoResult(out, Path(data), start, kind, cmp, scratch, exp, summary, seconds, numbers)
