"""Does `data check` flag the leaks that are there, and only those? Three kinds of evidence, one table.

Every number comes from the real `check_dataset` run on a YOLO folder built here (images linked or written; labels
are irrelevant to leakage), next to what the hash alone at today's old threshold (pHash distance <= 6) would flag.

1. Planted copies: edited copies of val images put in train (resized to 85%, brightened x1.3, cropped 3%,
   re-encoded at JPEG quality 70, and all four at once) in BCCD, cavity_coco and a generated scan-like set.
   Goal: >= 95% found.
2. Real pairs: cavity's train<->valid near-duplicates (PROVENANCE.md's rule: 64x64 grayscale mean abs. difference
   <= 3/255, recomputed here: 22 pairs) and BCCD's refocused pair (BloodImage_00037 val / 00038 train): all found.
3. Look-alikes: *different* generated scan-like images (dark background, one bright organ-like shape of random
   outline and texture, a few blobs; seeds unused while choosing the thresholds), split 80/20.
   Goal: <= 1 flag per 1,000 images.

Run: python bench/leakage.py [--shared ../shared] [--lookalikes 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_transfer.data.check import check_dataset  # noqa: E402
from yolo_transfer.data.dedup import hamming_pairs  # noqa: E402
from yolo_transfer.data.images import probe_images  # noqa: E402
from yolo_transfer.data.synth import scan_like_image  # noqa: E402

EDITS = ("resize85", "bright", "crop3", "jpeg70", "all4")
OLD_MAX_DISTANCE = 6


def _jpeg(im: Image.Image, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _crop3(im: Image.Image) -> Image.Image:
    w, h = im.size
    dx, dy = round(w * 0.015), round(h * 0.015)  # 3% of each side in all, centred
    return im.crop((dx, dy, w - dx, h - dy))


def edited(im: Image.Image, kind: str) -> bytes:
    w, h = im.size
    small = im.resize((round(w * 0.85), round(h * 0.85)), Image.BILINEAR)
    if kind == "resize85":
        return _jpeg(small)
    if kind == "bright":
        return _jpeg(ImageEnhance.Brightness(im).enhance(1.3))
    if kind == "crop3":
        return _jpeg(_crop3(im))
    if kind == "jpeg70":
        return _jpeg(im, 70)
    return _jpeg(_crop3(ImageEnhance.Brightness(small).enhance(1.3)), 70)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src.resolve(), dst)


def _data_yaml(root: Path) -> Path:
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [object]\n")
    return root / "data.yaml"


def _check(root: Path, workers: int):
    t = time.perf_counter()
    report = check_dataset(_data_yaml(root), workers=workers, show_progress=False)
    secs = time.perf_counter() - t
    pairs = {(Path(d.a).name, Path(d.b).name): d.similarity for d in report.near_duplicates}
    # today's check: the hash alone at distance <= 6, on the same probes
    tr = sorted((root / "images/train").iterdir())
    va = sorted((root / "images/val").iterdir())
    pt, pv = probe_images(tr, workers=workers, show_progress=False), probe_images(va, workers=workers,
                                                                                  show_progress=False)
    old = hamming_pairs(np.array([p.phash for p in pt], np.uint64), np.array([p.phash for p in pv], np.uint64),
                        max_distance=OLD_MAX_DISTANCE)
    old_pairs = {(tr[i].name, va[j].name) for i, j, _ in old}
    return report, pairs, old_pairs, secs


def planted(name: str, train: list[Path], val: list[Path], root: Path, workers: int,
            real: set[tuple[str, str]] | None = None) -> list[dict]:
    """Link train/val, add one edited copy of every val image per edit into train, run check."""
    for p in train:
        _link(p, root / "images/train" / p.name)
    for p in val:
        _link(p, root / "images/val" / p.name)
    expected = {}
    for p in val:
        with Image.open(p) as im:
            im.load()
            for kind in EDITS:
                copy = f"planted_{kind}_{p.stem}.jpg"
                (root / "images/train" / copy).write_bytes(edited(im, kind))
                expected[(copy, p.name)] = kind
    report, pairs, old_pairs, secs = _check(root, workers)
    rows = []
    for kind in EDITS:
        want = [k for k, v in expected.items() if v == kind]
        rows.append(dict(evidence="planted copies", set=name, what=kind, expected=len(want),
                         found=sum(k in pairs for k in want), old=sum(k in old_pairs for k in want)))
    if real is not None:
        rows.append(dict(evidence="real pairs", set=name, what="listed near-duplicates", expected=len(real),
                         found=sum(k in pairs for k in real), old=sum(k in old_pairs for k in real)))
    other = {k: s for k, s in pairs.items() if k not in expected and k not in (real or set())}
    via = {k for k in other if k[0].startswith("planted_")}  # copy of X matched to X's own near-duplicate in val
    old_other = old_pairs - set(expected) - (real or set())
    rows.append(dict(evidence="copy of a val image <-> that image's near-duplicate in val", set=name, what="(true)",
                     expected=0, found=len(via), old=sum(k[0].startswith("planted_") for k in old_other)))
    rows.append(dict(evidence="other flags", set=name, what=f"{len(train)} train x {len(val)} val originals",
                     expected=0, found=len(other) - len(via),
                     old=sum(not k[0].startswith("planted_") for k in old_other)))
    sims = [pairs[k] for k in expected if k in pairs]
    print(f"  {name}: {len(train) + len(expected) + len(val)} images checked in {secs:.1f}s; "
          f"{report.near_duplicate_candidates} hash candidates, {len(pairs)} confirmed; lowest planted similarity "
          f"{min(sims):.3f}" + (f"; other flags: {sorted(other.items())[:5]}" if other else ""), flush=True)
    return rows


def write_scans(folder: Path, seeds: range, size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s in seeds:
        path = folder / f"scan_{s}.png"
        cv2.imwrite(str(path), scan_like_image(s, size))
        out.append(path)
    return out


def cavity_real_pairs(cavity: Path) -> set[tuple[str, str]]:
    """PROVENANCE.md's rule, recomputed: 64x64 grayscale thumbnails, mean abs. difference <= 3/255."""
    def thumbs(paths):
        return np.stack([cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (64, 64), interpolation=cv2.INTER_AREA)
                         for p in paths]).astype(np.float32)

    tr, va = sorted((cavity / "train").glob("*.jpg")), sorted((cavity / "valid").glob("*.jpg"))
    mae = np.abs(thumbs(tr)[:, None] - thumbs(va)[None]).mean((2, 3))
    return {(tr[i].name, va[j].name) for i, j in np.argwhere(mae <= 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("YOLO_TRANSFER_SHARED",
                                                                      Path(__file__).resolve().parents[2] / "shared")))
    ap.add_argument("--lookalikes", type=int, default=2000, help="different scan-like images for the look-alike row")
    ap.add_argument("--planted-scans", type=int, default=400, help="generated images for the planted-copy row")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="leakage-") as tmp:
        tmp = Path(tmp)
        bccd = args.shared / "datasets/BCCD"
        if bccd.is_dir():
            def ids(split):
                return [bccd / "JPEGImages" / f"{ln.split()[0]}.jpg"
                        for ln in (bccd / f"ImageSets/Main/{split}.txt").read_text().splitlines() if ln.strip()]

            rows += planted("BCCD", ids("train"), ids("val"), tmp / "bccd", args.workers,
                            real={("BloodImage_00038.jpg", "BloodImage_00037.jpg")})
        else:
            print(f"  BCCD not found under {args.shared}: skipped")
        cavity = args.shared / "datasets/cavity_coco"
        if cavity.is_dir():
            real = cavity_real_pairs(cavity)
            rows += planted("cavity", sorted((cavity / "train").glob("*.jpg")),
                            sorted((cavity / "valid").glob("*.jpg")), tmp / "cavity", args.workers, real=real)
        else:
            print(f"  cavity_coco not found under {args.shared}: skipped")
        n = args.planted_scans
        scans = write_scans(tmp / "scan-src", range(200_000, 200_000 + n), args.size)
        rows += planted("generated scans", scans[: n * 4 // 5], scans[n * 4 // 5:], tmp / "scan", args.workers)

        n = args.lookalikes
        root = tmp / "lookalike"
        t = time.perf_counter()
        write_scans(root / "images/train", range(100_000, 100_000 + n * 4 // 5), args.size)
        write_scans(root / "images/val", range(100_000 + n * 4 // 5, 100_000 + n), args.size)
        gen = time.perf_counter() - t
        report, pairs, old_pairs, secs = _check(root, args.workers)
        print(f"  look-alikes: {n} images generated in {gen:.0f}s, checked in {secs:.1f}s; "
              f"{report.near_duplicate_candidates} hash candidates, {len(pairs)} confirmed", flush=True)
        rows.append(dict(evidence="look-alikes", set="generated scans", what=f"{n} different images, 80/20",
                         expected=0, found=len(pairs), old=len(old_pairs), per_1000=(len(pairs) / n * 1000,
                                                                                     len(old_pairs) / n * 1000)))

    print("\n| evidence | set | case | expected | flagged now (hash <= 12, then detail >= 0.90) "
          "| hash alone <= 6 (before) |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        def cell(key, k):
            v = r[key]
            if "per_1000" in r:
                return f"{v} ({r['per_1000'][k]:.1f} per 1,000 images)"
            return f"{v}/{r['expected']} ({v / r['expected']:.0%})" if r["expected"] else str(v)
        print(f"| {r['evidence']} | {r['set']} | {r['what']} | {r['expected']} | {cell('found', 0)} | "
              f"{cell('old', 1)} |")

if __name__ == "__main__":
    main()
