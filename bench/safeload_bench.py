"""What restricted checkpoint loading costs: judged, remembered and full pickle, alternated, in the same run.

    .venv/bin/python bench/safeload_bench.py --weights ../shared/weights/yolo26n.pt ../shared/weights/yolov8s-fall.pt

Two rows per checkpoint: the load alone in one process (`YOLO(path)`, median of --repeats, warm), and a whole
process that imports the package and loads the model (what a command pays before its work starts; median of
--processes). Three ways each: "judged" (torch's restricted unpickler, what a file's first load pays; the remembered
verdicts switched off), "remembered" (a later load of the same pickle: read, digest, C unpickler) and "full" (full
pickle, `--trust-checkpoint`). Prints each restricted way's ratio to full. The verdicts live in a temporary cache
folder. Evidence: docs/evidence/untrusted.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = {"judged": {"YOLO_TRANSFER_TRUST_CHECKPOINT": "0", "YOLO_TRANSFER_SAFELOAD_CACHE": "0"},
        "remembered": {"YOLO_TRANSFER_TRUST_CHECKPOINT": "0", "YOLO_TRANSFER_SAFELOAD_CACHE": "1"},
        "full": {"YOLO_TRANSFER_TRUST_CHECKPOINT": "1", "YOLO_TRANSFER_SAFELOAD_CACHE": "1"}}

CHILD = ("import time; t = time.perf_counter(); import yolo_transfer; from yolo_transfer import safeload; "
         "from yolo_transfer.anatomy import load_detection_model\n"
         "with safeload.loading(None): load_detection_model({path!r})\n"
         "print(time.perf_counter() - t)")


def in_process(path: Path, repeats: int) -> dict[str, float]:
    import yolo_transfer  # noqa: F401 - restricted by default
    from ultralytics import YOLO

    from yolo_transfer import safeload

    def once(way: str) -> float:
        os.environ.update(WAYS[way])
        with safeload.loading(way == "full"):
            t = time.perf_counter()
            YOLO(str(path))
            return time.perf_counter() - t

    for way in WAYS:  # warm every path once (and remember the verdict)
        once(way)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(repeats):
        for way in WAYS:
            times[way].append(once(way))
    return {k: statistics.median(v) for k, v in times.items()}


def whole_process(path: Path, processes: int) -> dict[str, float]:
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for _ in range(processes):
        for way, env in WAYS.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", CHILD.format(path=str(path))], check=True, capture_output=True,
                           env={**os.environ, **env, "YOLO_OFFLINE": "1"})
            times[way].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--processes", type=int, default=5)
    args = ap.parse_args()
    os.environ["YOLO_TRANSFER_CACHE"] = tempfile.mkdtemp(prefix="safeload-bench-")  # the user's verdicts untouched
    from yolo_transfer.utils.env import cpu_name

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(f"{'checkpoint':<20} {'measure':<28} {'judged s':>9} {'remembered s':>12} {'full s':>7} "
          f"{'judged/full':>11} {'remembered/full':>15}")
    for w in args.weights:
        for label, r in (("load in process (YOLO())", in_process(w, args.repeats)),
                         ("whole process (import+load)", whole_process(w, args.processes))):
            print(f"{w.name:<20} {label:<28} {r['judged']:>9.3f} {r['remembered']:>12.3f} {r['full']:>7.3f} "
                  f"{r['judged'] / r['full']:>11.2f} {r['remembered'] / r['full']:>15.2f}")


if __name__ == "__main__":
    main()
