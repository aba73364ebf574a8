"""Batch-inference speed and memory, whole processes: `yolo-transfer predict` vs `yolo predict` (.pt and .onnx).

Each contender is a fresh process on the same folder (start-up, model load, decode, inference, writing: what a
user waits for), run alternately for --rounds rounds (who goes first rotates) after a one-image warm-up of each.
Reported per contender: wall seconds, peak RSS (the process's own `ru_maxrss`, from `os.wait4`), and per-image
throughput (images after the first / (wall of N images - wall of 1 image), so start-up cancels out). Ratios are
medians over rounds of the per-round ratios: on a shared machine absolute numbers swing, back-to-back pairs less.

    python bench/predict_speed.py                          # 256 coco128 images (train + val) at 640, 3 rounds
    python bench/predict_speed.py --int8 best_int8.onnx    # also our pipeline on an INT8 export
    python bench/predict_speed.py --long 10000 --rounds 0  # only the long run: memory and images/s over time
    python bench/predict_speed.py --sweep                  # what batch / sessions / decode threads cost

Goals (issue 14, 2 cores): ours >= 1.2x `yolo predict` .onnx and >= 2.0x .pt (whole processes), peak RSS <= the
.onnx run's, boxes equal to Ultralytics' on the same model (IoU >= 0.99, same counts).
`yolo predict` runs with save=False (no annotated images written): the cheapest output it has.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from yolo_transfer.utils.env import cpu_name

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLO_TRANSFER_SHARED", REPO.parent / "shared"))
YOLO_CLI = shutil.which("yolo") or str(Path(sys.executable).with_name("yolo"))




def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def link_images(sources: list[Path], dst: Path, n: int) -> Path:
    """`n` symlinks in `dst` to the source images, cycling through them (a long run repeats the set)."""
    images = sorted(p for src in sources for p in src.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not images:
        sys.exit(f"no images in {sources}")
    dst.mkdir(parents=True)
    for i in range(n):
        p = images[i % len(images)]
        (dst / f"{i:05d}_{p.name}").symlink_to(p.resolve())
    return dst


def run_process(cmd: list[str], env: dict | None = None, on_poll=None) -> dict:
    """Run `cmd`; wall seconds and the peak RSS of that process (its own ru_maxrss, via wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    while True:  # wait4, not Popen.poll: only wait4 reports the child's own peak RSS, and only once
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG if on_poll is not None else 0)
        if pid:
            break
        on_poll(proc.pid, time.perf_counter() - t)
        time.sleep(1.0)
    wall = time.perf_counter() - t
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{b''.join(out_chunks).decode()[-3000:]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def contenders(pt: Path, onnx: Path, int8: Path | None, imgsz: int, conf: float) -> dict:
    """name -> function(folder, out) -> command line."""
    ours = [sys.executable, "-m", "yolo_transfer", "predict"]

    def ours_cmd(model):
        return lambda folder, out: ours + [str(model), str(folder), "--out", str(out), "--overwrite",
                                           "--conf", str(conf), "--device", "cpu"]

    def yolo_cmd(model):
        return lambda folder, out: [YOLO_CLI, "predict", f"model={model}", f"source={folder}", f"imgsz={imgsz}",
                                    f"conf={conf}", "device=cpu", "save=False", "verbose=False",
                                    f"project={out}", "name=p", "exist_ok=True"]

    c = {"ours_onnx": ours_cmd(onnx), "yolo_onnx": yolo_cmd(onnx), "yolo_pt": yolo_cmd(pt)}
    if int8 is not None:
        c["ours_int8"] = ours_cmd(int8)
    return c


def env_for_ours() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("YOLO_OFFLINE", "1")
    return env


def speed(a, work: Path, pt: Path, onnx: Path, int8: Path | None) -> dict:
    folder = link_images(a.sources, work / "images", a.n)
    one = link_images(a.sources, work / "one", 1)
    cmds = contenders(pt, onnx, int8, a.imgsz, a.conf)
    env = env_for_ours()
    res: dict[str, dict[str, list[float]]] = {k: {"wall_s": [], "peak_rss_mb": [], "start_s": []} for k in cmds}
    names = list(cmds)
    for name in names:  # warm-up: libraries and model files into the page cache, first-run caches built
        run_process(cmds[name](one, work / f"out1-{name}"), env)
    for r in range(a.rounds):
        order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in order:
            full = run_process(cmds[name](folder, work / f"out-{name}"), env)
            start = run_process(cmds[name](one, work / f"out1-{name}"), env)
            res[name]["wall_s"].append(full["wall_s"])
            res[name]["peak_rss_mb"].append(full["peak_rss_mb"])
            res[name]["start_s"].append(start["wall_s"])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v['wall_s'][-1]:.1f}s/{v['peak_rss_mb'][-1]:.0f}MB"
                                             for k, v in res.items()), flush=True)
    summary = {}
    for k, v in res.items():
        ips = [(a.n - 1) / max(w - s, 1e-6) for w, s in zip(v["wall_s"], v["start_s"])]
        summary[k] = {"wall_s": float(np.median(v["wall_s"])), "peak_rss_mb": float(np.max(v["peak_rss_mb"])),
                      "start_s": float(np.median(v["start_s"])), "images_per_s": float(np.median(ips)),
                      "rounds_wall_s": [round(x, 2) for x in v["wall_s"]], "ips_rounds": ips}
    ratios = {}
    for k in ("yolo_onnx", "yolo_pt"):
        ratios[f"ours_onnx vs {k} (whole process)"] = float(np.median(
            [b / o for o, b in zip(res["ours_onnx"]["wall_s"], res[k]["wall_s"])]))
        ratios[f"ours_onnx vs {k} (per image)"] = float(np.median(
            [o / b for o, b in zip(summary["ours_onnx"]["ips_rounds"], summary[k]["ips_rounds"])]))
    if int8 is not None:
        ratios["ours_int8 vs ours_onnx (whole process)"] = float(np.median(
            [o / q for o, q in zip(res["ours_onnx"]["wall_s"], res["ours_int8"]["wall_s"])]))
        ratios["ours_int8 vs ours_onnx (per image)"] = float(np.median(
            [q / o for o, q in zip(summary["ours_onnx"]["ips_rounds"], summary["ours_int8"]["ips_rounds"])]))
    return {"summary": summary, "ratios": ratios}


def agreement(onnx: Path, folder: Path, out: Path, imgsz: int, conf: float, n: int) -> dict:
    """Our records (from the last run) vs `YOLO(onnx).predict` image by image: counts and IoU of greedy pairs."""
    from ultralytics import YOLO

    from yolo_transfer.detections import Detections, match

    recs = {Path(r["image"]).name: r["detections"]
            for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}
    model = YOLO(str(onnx), task="detect")
    same_count = boxes = 0
    ious: list[float] = []
    for p in sorted(folder.iterdir())[:n]:
        ref = Detections.from_ultralytics(model.predict(str(p), imgsz=imgsz, conf=conf, verbose=False)[0])
        mine = Detections.from_records(recs[p.name])
        same_count += len(ref) == len(mine)
        boxes += len(ref)
        ious += match(mine, ref, 0.5)[2].tolist()
    return {"images": n, "same_count": same_count, "boxes": boxes, "matched": len(ious),
            "min_iou": round(min(ious), 4) if ious else None}


def long_run(a, work: Path, onnx: Path) -> dict:
    """One process over `--long` images: RSS and images/s sampled every second (from lines written)."""
    folder = link_images(a.sources, work / "long", a.long)
    out = work / "out-long"
    pred = out / "predictions.jsonl"
    samples: list[tuple[float, int, float]] = []

    def poll(pid: int, t: float) -> None:
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            done = sum(1 for _ in pred.open("rb")) if pred.exists() else 0
        except OSError:
            return
        samples.append((t, done, rss))

    cmd = contenders(Path("x"), onnx, None, a.imgsz, a.conf)["ours_onnx"](folder, out)
    res = run_process(cmd, env_for_ours(), on_poll=poll)
    started = [s for s in samples if s[1] > 0]
    if not started:
        return {"images": a.long, **res}
    t0, n0, _ = started[0]
    t1, n1, _ = started[-1]
    windows = []
    k = max(1, len(started) // 10)
    for i in range(0, len(started) - k, k):
        (ta, na, _), (tb, nb, rb) = started[i], started[i + k]
        windows.append({"images": nb, "images_per_s": round((nb - na) / (tb - ta), 2), "rss_mb": round(rb)})
    rss_after_first = next((s[2] for s in started if s[1] >= min(200, a.long // 10)), started[0][2])
    return {"images": a.long, **res, "images_per_s": (n1 - n0) / max(t1 - t0, 1e-6),
            "rss_after_warm_mb": rss_after_first, "rss_end_mb": started[-1][2],
            "growth_mb": max(s[2] for s in started) - rss_after_first, "windows": windows}


def sweep(a, work: Path, onnx: Path) -> list[dict]:
    """Our process with other batch / decode threads / ORT sessions: wall and peak RSS of each (2 rounds)."""
    folder = link_images(a.sources, work / "sweep", a.n)
    rows = []
    configs = [{"batch": b, "workers": w, "streams": s} for b, w, s in
               [(1, 1, 1), (4, 1, 1), (8, 1, 1), (1, 2, 1), (8, 1, 2), (1, 1, 2)]]
    for rnd in range(2):
        for cfg in configs:
            env = env_for_ours()
            env["YOLO_TRANSFER_ORT_STREAMS"] = str(cfg["streams"])
            cmd = contenders(Path("x"), onnx, None, a.imgsz, a.conf)["ours_onnx"](folder, work / "out-sweep")
            cmd += ["--batch", str(cfg["batch"]), "--workers", str(cfg["workers"])]
            r = run_process(cmd, env)
            rows.append({**cfg, "round": rnd, **r})
            print(f"  sweep {cfg}: {r['wall_s']:.1f} s, {r['peak_rss_mb']:.0f} MB", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(SHARED / "weights" / "yolov8s-fall.pt"))
    p.add_argument("--onnx", default=None, help="dynamic ONNX of --weights (default: exported here)")
    p.add_argument("--int8", default=None, help="an INT8 ONNX of --weights to add as a contender")
    p.add_argument("--source", action="append", default=None,
                   help="image folder(s) (default: coco128 train2017 + val2017)")
    p.add_argument("--n", type=int, default=256, help="images in the speed runs")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--rounds", type=int, default=3, help="recorded rounds, after one warm-up round")
    p.add_argument("--long", type=int, default=0, help="images in the long run (the issue asks 10000)")
    p.add_argument("--sweep", action="store_true", help="measure batch / workers / sessions of our pipeline")
    p.add_argument("--json", default=None, help="write all numbers here")
    a = p.parse_args()
    coco = SHARED / "datasets" / "coco128" / "images"
    a.sources = [Path(s) for s in a.source] if a.source else [coco / "train2017", coco / "val2017"]

    print(f"CPU: {cpu_name()}, {cores()} cores; {platform.python_version()}; model {Path(a.weights).name}, "
          f"imgsz {a.imgsz}, {a.n if a.rounds else a.long} images", flush=True)
    work = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    report: dict = {"cpu": cpu_name(), "cores": cores(), "n": a.n, "imgsz": a.imgsz, "rounds": a.rounds}
    try:
        pt = work / Path(a.weights).name
        shutil.copy(a.weights, pt)
        if a.onnx:
            onnx = Path(a.onnx)
        else:  # the dynamic export users get from `yolo-transfer export` (parity gate skipped: not timed here)
            subprocess.run([sys.executable, "-m", "yolo_transfer", "export", str(pt), "--format", "onnx",
                            "--imgsz", str(a.imgsz), "--no-parity"], check=True, env=env_for_ours(),
                           stdout=subprocess.DEVNULL)
            onnx = pt.with_suffix(".onnx")
        int8 = Path(a.int8) if a.int8 else None
        if a.rounds:
            res = speed(a, work, pt, onnx, int8)
            report.update(res)
            report["boxes_vs_ultralytics_onnx"] = agreement(onnx, work / "images", work / "out-ours_onnx",
                                                            a.imgsz, a.conf, min(32, a.n))
            print(f"\n{a.rounds} rounds, medians; peak RSS = max over rounds:")
            print(f"  {'contender':12s} {'wall s':>8s} {'start-up s':>10s} {'images/s':>9s} {'peak RSS MB':>11s}")
            for k, v in res["summary"].items():
                print(f"  {k:12s} {v['wall_s']:8.1f} {v['start_s']:10.1f} {v['images_per_s']:9.2f} "
                      f"{v['peak_rss_mb']:11.0f}   rounds {v['rounds_wall_s']}")
            for k, v in res["ratios"].items():
                print(f"  {k:45s} {v:6.2f}x")
            print(f"  boxes vs Ultralytics on the same ONNX: {json.dumps(report['boxes_vs_ultralytics_onnx'])}")
        if a.sweep:
            report["sweep"] = sweep(a, work, onnx)
        if a.long:
            report["long"] = lr = long_run(a, work, onnx)
            print(f"  long run, {lr['images']} images: {lr['wall_s']:.0f} s, {lr.get('images_per_s', 0):.2f} "
                  f"images/s, peak RSS {lr['peak_rss_mb']:.0f} MB, growth after warm-up "
                  f"{lr.get('growth_mb', 0):.0f} MB")
            for w in lr.get("windows", []):
                print(f"    at {w['images']:6d} images: {w['images_per_s']:6.2f} images/s, RSS {w['rss_mb']} MB")
        if a.json:
            for v in report.get("summary", {}).values():
                v.pop("ips_rounds", None)
            Path(a.json).write_text(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
