"""Speed of `yolo-transfer data check` on its two costly steps, each against its peer measured in the same run.

1. Near-duplicate search: vectorised block Hamming (`dedup.hamming_pairs`) vs a plain Python double loop over the
   same hashes; then the vectorised search alone at 30,000 images (the "tens of thousands" target).
2. Image probe (decode + size + truncation + perceptual hash + thumbnail): `images.probe_image` (JPEG draft
   decode) vs the obvious full-resolution decode + `imagehash.phash`, on the real BCCD JPEGs (640x480).
3. End to end: `check_dataset` on a generated YOLO set of 10,000 distinct 640x480 JPEGs (8,000 train / 2,000 val,
   one box each) with 2 decoding threads, near-duplicate search (hash candidates + detail confirmation) included.
   Target: under 60 s on 2 cores. (Look-alike-heavy sets, where the hash proposes many candidates, are timed in
   bench/leakage.py.)

Run: python bench/data_check.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np


def _timed(fn, *args, repeat: int = 3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_hamming(n_loop: int = 2000, n_big: int = 30_000) -> None:
    from yolo_transfer.data.dedup import hamming_pairs

    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, n_loop, dtype=np.int64).astype(np.uint64)
    ints = [int(h) for h in hashes]

    def python_loop(hs):
        return [(i, j) for i, j in itertools.combinations(range(len(hs)), 2) if (hs[i] ^ hs[j]).bit_count() <= 6]

    t_loop, _ = _timed(python_loop, ints, repeat=1)
    t_vec, _ = _timed(hamming_pairs, hashes)
    print(f"hamming all-pairs, {n_loop} hashes: python loop {t_loop:.3f}s, vectorised {t_vec:.3f}s "
          f"-> {t_loop / t_vec:.1f}x faster")
    big = rng.integers(0, 2**63, n_big, dtype=np.int64).astype(np.uint64)
    t_big, _ = _timed(hamming_pairs, big, repeat=1)
    print(f"hamming all-pairs, {n_big} hashes: vectorised {t_big:.2f}s ({n_big * (n_big - 1) / 2 / t_big / 1e6:.0f} "
          f"M pairs/s)")


def bench_probe(shared: Path, n: int = 120) -> None:
    import imagehash
    from PIL import Image

    from yolo_transfer.data.images import probe_image, probe_images

    files = sorted((shared / "datasets/BCCD/JPEGImages").glob("*.jpg"))[:n]
    if not files:
        print(f"probe: no BCCD images under {shared}; skipped")
        return

    def full(paths):
        out = []
        for p in paths:
            with Image.open(p) as im:
                im.load()
                out.append(int(str(imagehash.phash(im)), 16))
        return out

    t_full, _ = _timed(full, files)
    t_probe, _ = _timed(lambda ps: [probe_image(p) for p in ps], files)
    t_threads, _ = _timed(lambda ps: probe_images(ps, workers=4, show_progress=False), files)
    print(f"probe {len(files)} BCCD JPEGs: full decode+phash {t_full:.3f}s, draft probe {t_probe:.3f}s "
          f"-> {t_full / t_probe:.1f}x faster; with 4 threads {t_threads:.3f}s ({len(files) / t_threads:.0f} img/s)")


def bench_check(n: int = 10_000, workers: int = 2) -> None:
    import os
    import platform
    import sys
    import tempfile

    import cv2

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from yolo_transfer.data.check import check_dataset

    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 24, (480, 640, 3), dtype=np.uint8) for _ in range(16)]  # texture, made once
    with tempfile.TemporaryDirectory(prefix="check-bench-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        for k in range(n):
            split = "train" if k < n * 4 // 5 else "val"
            img = cv2.resize(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), (640, 480),
                             interpolation=cv2.INTER_LINEAR)
            img = cv2.add(img, noise[k % len(noise)])  # distinct files: the random blocks differ per image
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "images" / split / f"{k:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            (root / "labels" / split / f"{k:05d}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
        (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [thing]\n")
        gen = time.perf_counter() - t
        t, cpu0 = time.perf_counter(), time.process_time()
        report = check_dataset(root / "data.yaml", workers=workers, show_progress=False)
        secs, cpu_secs = time.perf_counter() - t, time.process_time() - cpu0
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    # CPU seconds say what the check costs whatever else runs; wall seconds are what a user waits on this machine
    print(f"check_dataset, {n} JPEGs 640x480 (generated in {gen:.0f}s): {secs:.1f}s wall, {cpu_secs:.1f}s CPU with "
          f"{workers} threads ({n / secs:.0f} img/s) on {os.cpu_count()} x {cpu}, load average {load:.1f}; "
          f"{report.near_duplicate_candidates} hash candidates, {len(report.near_duplicates)} confirmed; target "
          f"< 60 s wall: {'met' if secs < 60 else 'MISSED'}" + ("" if load < 2.5 else " (machine busy: see CPU s)"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    ap.add_argument("--images", type=int, default=10_000, help="images for the end-to-end check (0: skip)")
    args = ap.parse_args()
    bench_hamming()
    bench_probe(args.shared)
    if args.images:
        bench_check(args.images)
