"""CPU training, whole processes: `yolo-transfer train` vs `yolo train` (Ultralytics) with the same frozen layers.

    python bench/train_threads.py [--data ../shared/datasets/coco128/coco128.yaml] \
        [--weights ../shared/weights/yolov8s-fall.pt] [--epochs 3] [--imgsz 192] [--pairs 2]

On the CPU Ultralytics loads data in the training thread (`workers=0`) and runs torch at min(8, cores - 1)
threads; we run at `cpu_train_threads()` (every core up to 8). The peer is `yolo train ... freeze=<the frozen
backbone's layer count>`; ours is `yolo-transfer train --preset frozen-backbone` (same frozen layers, same
schedule). Both run as whole processes (start-up included), alternating which goes first, `--pairs` times; the
figures are the medians of the per-pair ratios of wall time and of the mean epoch time (results.csv). Prints the CPU
and each side's threads. The numbers swing on shared machines; the ratio within one run is the figure to read.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def epoch_seconds(run: Path) -> float:
    """Mean seconds per epoch from results.csv's `time` (the run's clock), the first epoch (warm-up) dropped."""
    t = [float({k.strip(): v for k, v in r.items()}["time"]) for r in csv.DictReader(open(run / "results.csv"))]
    steps = [b - a for a, b in zip(t, t[1:])] or t
    return statistics.mean(steps)


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/datasets/coco128/coco128.yaml")
    ap.add_argument("--weights", default="../shared/weights/yolov8s-fall.pt")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=192)
    ap.add_argument("--pairs", type=int, default=2)
    args = ap.parse_args()

    from yolo_transfer.utils.env import train_threads, usable_cores  # first: so Ultralytics' own OMP_NUM_THREADS=1 is known as its default

    ours = train_threads(usable_cores(), None)  # the children run without OMP_NUM_THREADS
    from ultralytics.utils import NUM_THREADS

    from yolo_transfer.anatomy import inspect_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.utils.env import cpu_name

    plan = make_plan("frozen-backbone", inspect_model(args.weights)[0], epochs=args.epochs)
    freeze = len(plan.frozen_at(0))  # the backbone's layers 0..N-1, as Ultralytics' freeze=N
    assert sorted(plan.frozen_at(0)) == list(range(freeze)), "frozen-backbone must be a prefix for this bench"
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # each side picks its own threads
    common = [f"epochs={args.epochs}", f"imgsz={args.imgsz}", "batch=16", "device=cpu", "seed=0", "plots=False"]
    root = Path(tempfile.mkdtemp(prefix="train_threads_"))
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); threads: Ultralytics {NUM_THREADS}, ours {ours}; "
          f"{args.epochs} epochs at {args.imgsz}, frozen layers 0..{freeze - 1}")
    rows = []
    try:
        for i in range(args.pairs):
            runs = {}
            for side in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
                name = f"{side}{i}"
                if side == "ours":
                    cmd = [str(bindir / "yolo-transfer"), "train", "--data", args.data, "--weights", args.weights,
                           "--preset", "frozen-backbone", "--epochs", str(args.epochs), "--imgsz", str(args.imgsz),
                           "--batch", "16", "--device", "cpu", "--project", str(root), "--name", name, "--seed", "0",
                           "plots=False"]
                else:
                    cmd = [str(bindir / "yolo"), "detect", "train", f"model={args.weights}", f"data={args.data}",
                           f"freeze={freeze}", f"project={root}", f"name={name}", *common]
                wall = timed(cmd, env)
                runs[side] = (wall, epoch_seconds(root / name))
                print(f"  pair {i + 1} {side}: {wall:.1f} s wall, {runs[side][1]:.1f} s per epoch", flush=True)
            rows.append((runs["peer"][0] / runs["ours"][0], runs["peer"][1] / runs["ours"][1]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"ours vs yolo train: {statistics.median(r[0] for r in rows):.2f}x faster whole process, "
          f"{statistics.median(r[1] for r in rows):.2f}x per epoch (medians of {len(rows)} pairs)")


if __name__ == "__main__":
    main()
