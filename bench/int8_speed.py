"""INT8 ONNX vs its FP32 ONNX peer: model-only latency at batch 1 on rectangular letterboxed images, same threads.

    python bench/int8_speed.py --fp32 m.onnx --int8 m_int8.onnx [--int8 other_int8.onnx] [--threads 1] [--runs 3]
    python bench/int8_speed.py --fp32 m.onnx --data data.yaml   # quantises with both stem settings first

The images are letterboxed as a dynamic export runs them (each to its own stride-multiple rectangle, e.g. 640x480
for most of coco128), then every model runs the same image list, interleaved run by run so load swings hit all of
them alike; the best pass per model is reported with its ratio to FP32. Names the CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from yolo_transfer.utils.env import cpu_name

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    import cv2
    import onnxruntime as ort

    from yolo_transfer.utils.standalone import OnnxDetector, preprocess

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", required=True, help="the FP32 ONNX export (dynamic)")
    ap.add_argument("--int8", action="append", default=[], help="INT8 ONNX to time (repeatable)")
    ap.add_argument("--data", help="without --int8: quantise --fp32 on this data.yaml, stem FP32 and stem INT8")
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "datasets" / "coco128" / "images" / "val2017"))
    ap.add_argument("--n", type=int, default=8, help="images per pass")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    models = {"fp32": a.fp32}
    tmp = None
    if a.int8:
        models.update({Path(p).name: p for p in a.int8})
    elif a.data:
        from yolo_transfer.exporter.quantize import quantize_onnx

        tmp = tempfile.TemporaryDirectory()
        for stem in (True, False):
            out = Path(tmp.name) / f"int8_stem_{'fp32' if stem else 'int8'}.onnx"
            models[out.stem] = str(quantize_onnx(a.fp32, out, a.data, stem_fp32=stem).path)
    else:
        ap.error("give --int8 or --data")
    det = OnnxDetector(a.fp32, providers=["CPUExecutionProvider"])
    files = sorted(p for p in Path(a.images).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:a.n]
    xs = [preprocess([cv2.imread(str(p))], det.imgsz, auto=det.dynamic, stride=det.stride)[0] for p in files]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = a.threads
    sessions = {k: ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"]) for k, p in models.items()}
    best = {k: float("inf") for k in sessions}
    for s in sessions.values():
        s.run(None, {det.input_name: xs[0]})  # warmup
    for _ in range(a.runs):
        for k, s in sessions.items():
            t = time.perf_counter()
            for x in xs:
                s.run(None, {det.input_name: x})
            best[k] = min(best[k], (time.perf_counter() - t) / len(xs) * 1000)
    shapes = sorted({f"{x.shape[3]}x{x.shape[2]}" for x in xs})
    print(f"CPU: {cpu_name()}, onnxruntime {ort.__version__}, {a.threads} thread(s), batch 1, "
          f"{len(xs)} images (WxH {', '.join(shapes)}), best of {a.runs}")
    for k, ms in best.items():
        print(f"{k:32s} {ms:8.1f} ms/image   x{best['fp32'] / ms:.2f} vs fp32")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
