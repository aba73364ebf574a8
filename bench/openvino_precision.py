"""OpenVINO FP32 vs BF16 on this CPU: speed of `predict`'s backend and what bf16 does to the boxes, in one run.

    python bench/openvino_precision.py [--weights ../shared/weights/yolov8s-fall.pt] [--imgsz 640] [--rounds 5]

Exports the checkpoint to an FP32 OpenVINO IR (dynamic) in a temporary folder and loads it twice through
`load_backend`: as exported (compiled with INFERENCE_PRECISION_HINT=f32) and with `precision="bf16"` (the explicit
choice). Each round times a batch of each, alternating which goes first, so both see the same machine load; the
medians and their ratio are the figures to read. Then the parity gate judges the bf16 run with the BF16 thresholds and
reports how far it is from the `.pt`. On a CPU without bf16, OpenVINO drops the hint: both run at FP32 (ratio ~1).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from yolo_transfer.utils.env import cpu_name

REPO = Path(__file__).resolve().parents[1]




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(REPO.parent / "shared" / "weights" / "yolov8s-fall.pt"))
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "datasets" / "coco128" / "images" / "train2017"))
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10, help="timed calls per model per round")
    ap.add_argument("--parity-images", type=int, default=24)
    a = ap.parse_args()

    import os

    import numpy as np

    from yolo_transfer.exporter.api import export
    from yolo_transfer.exporter.parity import check_parity
    from yolo_transfer.inference.backends import load_backend

    with tempfile.TemporaryDirectory(prefix="bench-ov-precision-") as tmp:
        ov_dir = export(a.weights, "openvino", imgsz=a.imgsz, parity=False, out_dir=tmp).path
        models = {"fp32": load_backend(ov_dir, batch=a.batch, device="cpu"),
                  "bf16": load_backend(ov_dir, batch=a.batch, device="cpu", precision="bf16")}
        x = np.random.default_rng(0).random((a.batch, 3, a.imgsz, a.imgsz), dtype=np.float32)
        times: dict[str, list[float]] = {k: [] for k in models}
        for m in models.values():
            for _ in range(3):
                m.infer(x)  # warm up: first calls allocate and pick kernels
        for r in range(a.rounds):
            order = list(models) if r % 2 == 0 else list(models)[::-1]
            for k in order:
                for _ in range(a.runs):
                    t = time.perf_counter()
                    models[k].infer(x)
                    times[k].append((time.perf_counter() - t) * 1000)
        med = {k: statistics.median(v) for k, v in times.items()}
        ran = {k: m.describe()["precision"] for k, m in models.items()}
        print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); model {Path(a.weights).name}, {a.imgsz}x{a.imgsz}, "
              f"batch {a.batch}, {a.rounds} alternating rounds x {a.runs} calls")
        for k in models:
            print(f"  asked {k.upper()}: ran at {ran[k].upper()}, median {med[k]:.1f} ms per batch "
                  f"({a.batch * 1000 / med[k]:.1f} img/s)")
        print(f"  bf16 speed-up vs fp32: {med['fp32'] / med['bf16']:.2f}x")

        for k in ("fp32", "bf16"):
            rep = check_parity(a.weights, ov_dir, imgsz=a.imgsz, images=a.images, max_images=a.parity_images,
                               conf=0.25, runtime_precision=None if k == "fp32" else k, write=False,
                               runner_check=False)
            print(f"  gate at {k.upper()}: {rep.summary()}")


if __name__ == "__main__":
    main()
