"""The same pictures at 8 bits, at 12 bits in a 16-bit container, and as DICOM: does predict find the same boxes?

    .venv/bin/python bench/bit_depth.py --weights ../shared/weights/yolo26n.pt \
        --images ../shared/datasets/coco128/images/val2017 --n 32

Each image is saved as an 8-bit grayscale PNG, the same pixels x16 as a 16-bit PNG (a 12-bit range), and (with
pydicom) the 12-bit pixels as an uncompressed MONOCHROME2 DICOM without window tags. Rows: boxes found and how many of
the 8-bit run's boxes have a twin (same class, IoU >= 0.99) in each other run; `ultralytics high byte` is the 12-bit
copy read as Ultralytics reads it (window 0,65535), the behaviour this replaces. Evidence: docs/evidence/images.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import cv2
import numpy as np

from yolo_transfer.utils import dicom


def _boxes(out: Path) -> dict[str, list]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return {Path(r["image"]).stem: [(d["class_id"], d["xyxy"]) for d in r["detections"]] for r in rows}


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def _twins(ref: dict, other: dict) -> int:
    return sum(any(c == c2 and _iou(b, b2) >= 0.99 for c2, b2 in other.get(k, [])) for k, v in ref.items()
               for c, b in v)


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--imgsz", type=int, default=640)
    a = ap.parse_args()
    from yolo_transfer.inference.api import predict

    tmp = Path(tempfile.mkdtemp(prefix="bitdepth-"))
    folders = {k: tmp / k for k in ("8", "12", "dcm")}
    for f in folders.values():
        f.mkdir()
    try:
        import pydicom  # noqa: F401
    except ImportError:
        folders.pop("dcm")
    for p in sorted(Path(a.images).glob("*.jpg"))[: a.n]:
        g = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(folders["8"] / f"{p.stem}.png"), g)
        cv2.imwrite(str(folders["12"] / f"{p.stem}.png"), g.astype(np.uint16) * 16)
        if "dcm" in folders:
            dicom.write(folders["dcm"] / f"{p.stem}.dcm", g.astype(np.uint16) * 16, bits=12)
    runs = {"8-bit PNG": ("8", None), "12-bit in 16-bit PNG (auto window)": ("12", None),
            "ultralytics high byte (window 0,65535)": ("12", "0,65535")}
    if "dcm" in folders:
        runs["DICOM, 12 bits stored (auto window)"] = ("dcm", None)
    results = {}
    for label, (folder, window) in runs.items():
        out = tmp / f"out-{len(results)}"
        s = predict(a.weights, folders[folder], out, device="cpu", imgsz=a.imgsz, window=window, show_progress=False)
        results[label] = (_boxes(out), s.settings.get("window"))
    ref = results["8-bit PNG"][0]
    n_ref = sum(len(v) for v in ref.values())
    print(f"# {a.n} images of {a.images}, {Path(a.weights).name}, imgsz {a.imgsz}, CPU {_cpu()}")
    print("| images | window | boxes | 8-bit boxes with a twin (IoU >= 0.99) |")
    print("|---|---|---:|---:|")
    for label, (boxes, window) in results.items():
        w = f"{window['low']:g},{window['high']:g}" if window else "-"
        print(f"| {label} | {w} | {sum(len(v) for v in boxes.values())} | {_twins(ref, boxes)} / {n_ref} |")


if __name__ == "__main__":
    main()
