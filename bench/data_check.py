"""Speed of `yolo-transfer data check` on its two costly steps, each against its peer measured in the same run.

1. Near-duplicate search: vectorised block Hamming (`dedup.hamming_pairs`) vs a plain Python double loop over the
   same hashes; then the vectorised search alone at 30,000 images (the "tens of thousands" target).
2. Image probe (decode + size + truncation + perceptual hash): `images.probe_image` (JPEG draft decode) vs the
   obvious full-resolution decode + `imagehash.phash`, on the real BCCD JPEGs (640x480).

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


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = ap.parse_args()
    bench_hamming()
    bench_probe(args.shared)
