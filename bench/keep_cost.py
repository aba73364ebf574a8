"""What the exact keep-classes method costs at inference: parameters and forward time of the kept model per preset
(the new classes' path copies what the preset trains), against the source checkpoint in the same run.

Weights do not change the cost, so no training is needed: the source model is grafted as `train --keep-classes`
grafts it (`training.keep.graft`), then each model's forward is timed on the same batch, alternating models, median
of --repeats, after a warm-up, at the torch threads given (pin the process to that many cores).

    taskset -c 0 python bench/keep_cost.py --imgsz 640 --threads 1 --json /tmp/keep_cost.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))
PRESETS = ("head-only", "frozen-backbone", "full")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolo26n.pt"))
    p.add_argument("--new-classes", type=int, default=3)
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", default=None)
    a = p.parse_args()

    import torch

    from yolo_transfer.anatomy import Anatomy
    from yolo_transfer.presets import make_plan
    from yolo_transfer.training.keep import branch_point, graft
    from yolo_transfer.utils.env import cpu_name
    from yolo_transfer.verify import load_model

    torch.set_num_threads(a.threads)
    source = load_model(a.weights)
    anatomy = Anatomy.of(source)
    models = {"source": source}
    for preset in PRESETS:
        m = copy.deepcopy(source)
        graft(m, a.new_classes, branch_point(make_plan(preset, anatomy, epochs=10), anatomy))
        models[f"exact on {preset}"] = m.eval()
    params = {k: sum(q.numel() for q in m.parameters()) for k, m in models.items()}  # as saved, both heads
    models = {k: m.fuse(verbose=False) for k, m in models.items()}  # as `predict` runs them: BN folded, one head
    x = torch.rand(a.batch, 3, a.imgsz, a.imgsz)
    times = {k: [] for k in models}
    with torch.inference_mode():
        for m in models.values():
            m(x)  # warm-up
        for _ in range(a.repeats):
            for k, m in models.items():  # alternating, so drift in the machine hits every model alike
                t = time.perf_counter()
                m(x)
                times[k].append(time.perf_counter() - t)
    base_ms = statistics.median(times["source"]) * 1000
    base_params = params["source"]
    rows = []
    print(f"CPU: {cpu_name()}; {Path(a.weights).name} + {a.new_classes} new classes, {a.imgsz} px, batch {a.batch}, "
          f"{a.threads} thread(s), median of {a.repeats}")
    for k in models:
        ms = statistics.median(times[k]) * 1000
        n = params[k]
        rows.append({"model": k, "params": n, "params_ratio": round(n / base_params, 3),
                     "ms": round(ms, 1), "ms_ratio": round(ms / base_ms, 3)})
        print(f"{k:26s} {n:>10,d} parameters ({n / base_params:.2f}x)  {ms:7.1f} ms ({ms / base_ms:.2f}x)")
    if a.json:
        Path(a.json).write_text(json.dumps({"cpu": cpu_name(), "args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
