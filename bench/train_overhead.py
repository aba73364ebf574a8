"""Time per training epoch of each preset: yolo-transfer vs raw Ultralytics with the same freeze, in one run.

    python bench/train_overhead.py [--weights yolo11n.yaml] [--imgsz 160] [--epochs 4] [--images 64] [--repeats 2]

For each preset, the raw peer is `YOLO(weights).train(freeze=<the same layer list>)`: identical frozen layers, so
the difference is our callbacks, BatchNorm policy, parameter-group split and verification-free training loop.
(`progressive` is compared within its first stage, where its freeze is fixed; `discriminative` against a full run.)
Each epoch's training time (on_train_epoch_start -> on_train_epoch_end, validation off) is recorded; the first
epoch is dropped as warm-up; ours and raw run in pairs `--repeats` times, alternating which goes first, and the
ratio is the median of the per-pair ratios. Prints a table and the ratios.
Numbers swing on shared machines; the ratio within one run is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

PRESETS = ["head-only", "frozen-backbone", "full", "freeze:10", "progressive", "discriminative:ratio=0.1"]


def _timer():
    times, start = [], {}

    def on_start(tr):
        start["t"] = time.perf_counter()

    def on_end(tr):
        times.append(time.perf_counter() - start["t"])

    return times, {"on_train_epoch_start": on_start, "on_train_epoch_end": on_end}


def run_ours(data, weights, preset, args, project):
    from yolo_transfer.training.api import train_preset as train

    times, cbs = _timer()
    train(weights, data, preset=preset, project=project, callbacks=cbs, **args)
    return times[1:]


def run_raw(data, weights, freeze, args, project):
    from ultralytics import YOLO

    times, cbs = _timer()
    model = YOLO(weights)
    for event, fn in cbs.items():
        model.add_callback(event, fn)
    args = {k: v for k, v in args.items()}
    model.train(data=str(data), freeze=freeze or None, project=str(project), name="raw", **args)
    return times[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="yolo11n.yaml")
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--presets", nargs="*", default=PRESETS)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    opt = ap.parse_args()

    from yolo_transfer.anatomy import inspect_model
    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset
    from yolo_transfer.presets import make_plan

    tmp = Path(tempfile.mkdtemp(prefix="yt-bench-"))
    data = make_synthetic_dataset(tmp, SynthSpec(name="bench", train=opt.images, val=8, imgsz=opt.imgsz))
    anatomy, _ = inspect_model(opt.weights)
    args = dict(epochs=opt.epochs, imgsz=opt.imgsz, batch=16, device="cpu", workers=0, val=False, plots=False,
                verbose=False, seed=0, deterministic=True, amp=False)
    rows = []
    for preset in opt.presets:
        plan = make_plan(preset, anatomy, epochs=opt.epochs if not preset.startswith("progressive") else 10**6)
        freeze = sorted(plan.frozen_at(0))
        spec = preset if not preset.startswith("progressive") else f"progressive:neck={10**6},backbone={10**6 + 1}"
        ours, raw, ratios = [], [], []
        for r in range(opt.repeats):
            # alternate who goes first: on a shared machine the second run of a pair is often the slower one
            pair = [("ours", lambda: run_ours(data, opt.weights, spec, args, tmp / f"ours-{r}")),
                    ("raw", lambda: run_raw(data, opt.weights, freeze, args, tmp / f"raw-{r}"))]
            got = dict((name, fn()) for name, fn in (pair if r % 2 == 0 else pair[::-1]))
            ours += got["ours"]
            raw += got["raw"]
            ratios.append(statistics.median(got["ours"]) / statistics.median(got["raw"]))
        o, w, ratio = statistics.median(ours), statistics.median(raw), statistics.median(ratios)
        rows.append({"preset": preset, "frozen_layers": len(freeze), "ours_s_per_epoch": o, "raw_s_per_epoch": w,
                     "ratio": ratio, "ratios_per_repeat": ratios, "epochs_timed": len(ours)})
        print(f"{preset:<26} frozen {len(freeze):>2}  ours {o:7.3f} s/epoch  raw {w:7.3f} s/epoch  "
              f"ratio {ratio:6.3f}  (per repeat: {', '.join(f'{x:.3f}' for x in ratios)})", flush=True)
    overall = statistics.median(r["ratio"] for r in rows)
    print(f"\nmedian ours/raw time per epoch: {overall:.3f}  (target < 1.03)")
    if opt.json:
        opt.json.write_text(json.dumps({"rows": rows, "median_ratio": overall, "args": vars(opt)}, indent=2, default=str))


if __name__ == "__main__":
    main()
