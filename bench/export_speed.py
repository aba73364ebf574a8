"""Exported runtimes vs the source `.pt`, measured in the same run, plus the standalone runner vs Ultralytics.

    python bench/export_speed.py [--weights ../shared/weights/yolov8s-fall.pt] [--imgsz 320] [--runs 10]

1. Exports the checkpoint to ONNX (dynamic and static) and OpenVINO (if installed) into a temporary folder, then runs
   `benchmark_models` over the `.pt` and the exports: model-only latency at batch 1/4 and end-to-end per image.
   Prints each format's speed-up ratio vs the `.pt` peer.
2. End-to-end per image on the same ONNX file: `standalone.OnnxDetector` (numpy + onnxruntime) vs Ultralytics'
   `YOLO(onnx).predict`, so the deployable runner's overhead is visible.
Numbers swing on shared machines; the ratios within one run are the figures to read.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _median_ms(fn, items, runs: int) -> float:
    fn(items[0])  # warmup
    times = []
    for i in range(runs):
        t = time.perf_counter()
        fn(items[i % len(items)])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(REPO.parent / "shared" / "weights" / "yolov8s-fall.pt"))
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "datasets" / "coco128" / "images"))
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()

    import cv2
    from ultralytics import YOLO

    from yolo_transfer.exporter.benchmark import benchmark_models
    from yolo_transfer.exporter.api import export
    from yolo_transfer.utils.standalone import OnnxDetector

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        tmp = Path(tmp)
        exports = [export(a.weights, "onnx", imgsz=a.imgsz, parity=False, out_dir=tmp / "dyn").path,
                   export(a.weights, "onnx", imgsz=a.imgsz, dynamic=False, parity=False,
                                out_dir=tmp / "static").path]
        if importlib.util.find_spec("openvino"):
            exports.append(export(a.weights, "openvino", imgsz=a.imgsz, parity=False, out_dir=tmp / "ov").path)
        report = benchmark_models([a.weights, *exports], imgsz=a.imgsz, batch_sizes=(1, 4), images=a.images,
                                  max_images=16, runs=a.runs)
        print(report.to_markdown())
        base = report.results[0]
        b1 = {r.model: next(m for m in r.model_only if m.batch == 1).latency_ms for r in report.results}
        for r, label in zip(report.results[1:], ["onnx dynamic", "onnx static", "openvino"]):
            print(f"{label:>13}: model-only b1 {b1[base.model] / b1[r.model]:.2f}x the .pt speed, "
                  f"end-to-end {base.end_to_end_ms / r.end_to_end_ms:.2f}x")

        files = sorted(p for p in Path(a.images).rglob("*.jpg"))[:16]
        images = [cv2.imread(str(p)) for p in files]
        det = OnnxDetector(str(exports[0]), rect=True)
        ours = _median_ms(lambda im: det.predict([im]), images, a.runs * 2)
        yolo = YOLO(str(exports[0]), task="detect")
        theirs = _median_ms(lambda im: yolo.predict(im, imgsz=a.imgsz, verbose=False), images, a.runs * 2)
        print(f"end-to-end per image on the same ONNX: standalone {ours:.1f} ms vs Ultralytics {theirs:.1f} ms "
              f"-> ratio {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
