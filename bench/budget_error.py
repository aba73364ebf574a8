"""The budget estimator's error: epochs it says fit in a wall-clock budget vs the epochs Ultralytics' time mode then
really runs, per set, image size and preset.

For each set x imgsz x preset: `training.budget.estimate_budget` (what recommend, compare and auto read), then a
plain time-bounded `train_preset` run of that preset for the same budget; the error is estimated / run - 1 (a part
epoch counts as one, as Ultralytics validates it). Goal (issue 27): within +-25 %.

    python bench/budget_error.py --set coco128=../shared/datasets/coco128/coco128.yaml \\
        --set bccd=/work/sets/BCCD/data.yaml --set cavity=/work/sets/cavity_coco/data.yaml \\
        --imgsz 320 --imgsz 640 --budget-minutes 2 --json /tmp/budget_error.json

The same table without training, from strategy evaluations' recommend estimates and compare runs:

    python bench/budget_error.py --from-eval runs/strategy-eval/s0 runs/strategy-eval/s1

BCCD and cavity are the shared sets converted with `yolo-transfer data convert` (VOC, COCO JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from yolo_transfer.utils.env import cpu_name

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", action="append", help="name=path/to/data.yaml")
    p.add_argument("--from-eval", nargs="+", metavar="DIR",
                   help="no training: the same table from bench/strategy_eval.py results (recommend's estimate vs the "
                        "epochs each compare run ran)")
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolo26n.pt"))
    p.add_argument("--imgsz", type=int, action="append")
    p.add_argument("--presets", default="frozen-backbone,full")
    p.add_argument("--budget-minutes", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    if a.from_eval:
        return from_eval(a.from_eval)
    if not a.set:
        p.error("give --set name=data.yaml (or --from-eval DIR)")
    from yolo_transfer.training.api import train_preset
    from yolo_transfer.training.budget import estimate_budget, first_guess

    sizes = a.imgsz or [320, 640]
    presets = a.presets.split(",")
    rows = []
    print(f"CPU: {cpu_name()}, {os.cpu_count()} CPUs; {Path(a.weights).name}, budget {a.budget_minutes:g} min")
    work = Path(tempfile.mkdtemp(prefix="budget-error-"))
    try:
        for spec in a.set:
            name, data = spec.split("=", 1)
            for imgsz in sizes:
                t0 = time.perf_counter()
                est = estimate_budget(a.weights, data, presets, a.budget_minutes, imgsz=imgsz, batch=a.batch,
                                      device="cpu")
                t_est = time.perf_counter() - t0
                for preset in presets:
                    r = train_preset(a.weights, data, preset=preset, epochs=first_guess(est, preset), imgsz=imgsz,
                                     batch=a.batch, device="cpu", time=a.budget_minutes / 60, project=work,
                                     name=f"{name}-{imgsz}-{preset}", verbose=False, plots=False)
                    ran = len(r.history)
                    secs = [h.get("epoch_seconds") for h in r.history if h.get("epoch_seconds")]
                    train_s = sorted(h["train_seconds"] for h in r.history if h.get("train_seconds"))
                    row = {"set": name, "imgsz": imgsz, "preset": preset, "estimated": est.epochs[preset], "ran": ran,
                           "error": round(est.epochs[preset] / max(ran, 1) - 1, 3),
                           "epoch_s_estimated": est.epoch_seconds[preset],
                           "epoch_s_median": sorted(secs)[len(secs) // 2] if secs else None,
                           "train_s_estimated": round(est.train_images * (est.load_seconds + est.step_seconds[preset]),
                                                      2),
                           "train_s_median": train_s[len(train_s) // 2] if train_s else None,
                           "parts": {"load": est.load_seconds, "step": est.step_seconds[preset],
                                     "val": est.val_seconds, "save": est.save_seconds},
                           "estimate_seconds": round(t_est, 1)}
                    rows.append(row)
                    print(f"{name:10s} {imgsz:4d} {preset:16s} estimated {row['estimated']:6.1f} ran {ran:3d} "
                          f"error {row['error']:+.0%}  epoch s est {row['epoch_s_estimated']:.1f} / median "
                          f"{row['epoch_s_median'] or 0:.1f}, train part est {row['train_s_estimated']:.1f} / median "
                          f"{row['train_s_median'] or 0:.1f}  (estimate took {t_est:.0f} s)", flush=True)
                    shutil.rmtree(r.run_dir, ignore_errors=True)
        errs = [abs(r["error"]) for r in rows]
        print(f"\n{len(rows)} runs: |error| median {sorted(errs)[len(errs) // 2]:.0%}, max {max(errs):.0%}; within "
              f"25 %: {sum(e <= 0.25 for e in errs)}/{len(errs)}")
        if a.json:
            Path(a.json).write_text(json.dumps({"cpu": cpu_name(), "budget_minutes": a.budget_minutes,
                                                "weights": a.weights, "rows": rows}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def from_eval(dirs: list[str]) -> None:
    """Estimated vs run epochs from strategy evaluations: recommend's `epochs_in_budget` against the epochs of each
    compare run of the same budget (one estimate per set, timed before the runs, on the same machine)."""
    rows = []
    for d in dirs:
        res = json.loads((Path(d) / "results.json").read_text())
        for name, s in res["sets"].items():
            est = (s.get("recommend") or {}).get("facts", {}).get("epochs_in_budget", {})
            for preset, c in (s.get("compare") or {}).items():
                if preset in est and c.get("epochs"):
                    rows.append((name, s.get("imgsz", res["imgsz"]), res.get("seed", 0), preset, est[preset],
                                 c["epochs"], est[preset] / c["epochs"] - 1))
    print(f"| set | imgsz | seed | preset | estimated epochs | ran | error |\n|---|---:|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]} | {r[6]:+.0%} |")
    errs = sorted(abs(r[6]) for r in rows)
    if errs:
        print(f"\n{len(rows)} runs: |error| median {errs[len(errs) // 2]:.0%}, max {errs[-1]:.0%}; within 25 %: "
              f"{sum(e <= 0.25 for e in errs)}/{len(errs)}")


if __name__ == "__main__":
    main()
