"""What restricted checkpoint loading costs: restricted vs full pickle, alternated, in the same run.

    .venv/bin/python bench/safeload_bench.py --weights ../shared/weights/yolo26n.pt ../shared/weights/yolov8s-fall.pt

Two rows per checkpoint: the load alone in one process (`YOLO(path)`, median of --repeats, warm), and a whole
process that imports the package and loads the model (what a command pays before its work starts; median of
--processes). Prints the ratio restricted / full for each. Evidence: docs/evidence/untrusted.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = ("import time; t = time.perf_counter(); import yolo_transfer; from yolo_transfer import safeload; "
         "from yolo_transfer.anatomy import load_detection_model\n"
         "with safeload.loading(None): load_detection_model({path!r})\n"
         "print(time.perf_counter() - t)")


def in_process(path: Path, repeats: int) -> dict[str, float]:
    import yolo_transfer  # noqa: F401 - restricted by default
    from ultralytics import YOLO

    from yolo_transfer import safeload

    times: dict[str, list[float]] = {"restricted": [], "full": []}
    for trust in (False, True):  # warm both paths once
        with safeload.loading(trust):
            YOLO(str(path))
    for _ in range(repeats):
        for name, trust in (("restricted", False), ("full", True)):
            with safeload.loading(trust):
                t = time.perf_counter()
                YOLO(str(path))
                times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def whole_process(path: Path, processes: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"restricted": [], "full": []}
    for _ in range(processes):
        for name, trust in (("restricted", "0"), ("full", "1")):
            env = {**os.environ, "YOLO_TRANSFER_TRUST_CHECKPOINT": trust, "YOLO_OFFLINE": "1"}
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", CHILD.format(path=str(path))], env=env, check=True,
                           capture_output=True)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--processes", type=int, default=5)
    args = ap.parse_args()
    from yolo_transfer.utils.env import cpu_name

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(f"{'checkpoint':<22} {'measure':<26} {'restricted s':>12} {'full s':>8} {'ratio':>6}")
    for w in args.weights:
        for label, r in (("load in process (YOLO())", in_process(w, args.repeats)),
                         ("whole process (import+load)", whole_process(w, args.processes))):
            print(f"{w.name:<22} {label:<26} {r['restricted']:>12.3f} {r['full']:>8.3f} "
                  f"{r['restricted'] / r['full']:>6.2f}")


if __name__ == "__main__":
    main()
