"""What `compare` costs on top of its trainings: compare() vs the same train() calls made one by one, in one run.

    python bench/compare_overhead.py [--weights yolo11n.yaml] [--imgsz 128] [--epochs 3] [--images 64] [--repeats 2]

After one untimed warm-up, both sides train the same presets on the same generated data with the same settings; the peer is a plain loop of
`train()` calls (what a user would script). compare() adds its checks (model load, preset plans), the state file,
the summary and the report with its plots. The sides alternate which goes first, `--repeats` pairs; the overhead is
the median of the per-pair ratios of total wall time. Prints a table, the CPU and the ratio (goal: < 3 %).
Numbers swing on shared machines; the ratio within one run is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from yolo_transfer.utils.env import cpu_name


def run_compare(data, opt, args, project) -> float:
    from yolo_transfer.comparison.api import compare

    t0 = time.perf_counter()
    compare(opt.weights, data, presets=opt.presets, epochs=opt.epochs, project=project, name="cmp", **args)
    return time.perf_counter() - t0


def run_loop(data, opt, args, project) -> float:
    from yolo_transfer.training.api import train_preset as train
    from yolo_transfer.utils.console import ultralytics_logs_off

    t0 = time.perf_counter()
    with ultralytics_logs_off(True):  # compare silences Ultralytics' bars too: same printing on both sides
        for preset in opt.presets:
            train(opt.weights, data, preset=preset, epochs=opt.epochs, seed=0, project=project, name=preset,
                  verbose=False, **args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="yolo11n.yaml")
    ap.add_argument("--imgsz", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--presets", default="frozen-backbone,full")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    opt = ap.parse_args()
    opt.presets = opt.presets.split(",")

    from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

    tmp = Path(tempfile.mkdtemp(prefix="yt-bench-cmp-"))
    data = make_synthetic_dataset(tmp, SynthSpec(name="bench", train=opt.images, val=16, imgsz=opt.imgsz))
    args = dict(imgsz=opt.imgsz, batch=16, device="cpu", workers=0, plots=False, deterministic=True, amp=False)
    # warm-up, untimed: imports, Ultralytics' label cache and matplotlib's font cache would all be paid by whichever
    # side runs first
    run_compare(data, argparse.Namespace(**{**vars(opt), "epochs": 1}), args, tmp / "warmup")
    pairs = []
    for k in range(opt.repeats):
        order = ["compare", "loop"] if k % 2 == 0 else ["loop", "compare"]
        got = {}
        for side in order:
            project = tmp / f"r{k}-{side}"
            got[side] = (run_compare if side == "compare" else run_loop)(data, opt, args, project)
            print(f"pair {k + 1} {side:<8} {got[side]:7.1f} s", flush=True)
        pairs.append(got)
    ratios = [p["compare"] / p["loop"] for p in pairs]
    ratio = statistics.median(ratios)
    print(f"\nCPU: {cpu_name()}; {len(opt.presets)} presets x {opt.epochs} epochs, {opt.images} images at {opt.imgsz} px")
    print(f"{'pair':>4} {'compare s':>10} {'loop s':>8} {'ratio':>7}")
    for i, (p, r) in enumerate(zip(pairs, ratios), 1):
        print(f"{i:>4} {p['compare']:>10.1f} {p['loop']:>8.1f} {r:>7.3f}")
    extra = statistics.median(p["compare"] - p["loop"] for p in pairs)
    print(f"compare overhead: {100 * (ratio - 1):+.1f} % (median of {len(ratios)} pairs; goal < 3 %); "
          f"{extra:+.1f} s per comparison (checks, state, summary, report)")
    if opt.json:
        opt.json.write_text(json.dumps({"cpu": cpu_name(), "pairs": pairs, "ratio": ratio,
                                        "settings": {k: v for k, v in vars(opt).items() if k != "json"}}, indent=2))


if __name__ == "__main__":
    main()
