"""Nested, seeded subsets of the training set: how much data each strategy needs.

For a seed the training images are shuffled once and fraction `f` keeps the first `round(f * n)`, so the 25 % subset
lies inside the 50 % one: a curve over fractions adds data, it never swaps it. A subset is an image list plus a data
YAML beside it (val always the full val split); fraction 1.0 uses the user's own YAML unchanged.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from yolo_transfer.utils.io import atomic_write_text, atomic_write_yaml


def subset(images: list[Path], fraction: float, seed: int) -> list[Path]:
    order = sorted(images)
    random.Random(seed).shuffle(order)
    return order[: max(1, round(fraction * len(order)))]


def data_for(spec, fraction: float, seed: int, out_dir: Path) -> Path:
    """The data YAML a trial trains on (written once into the compare folder; the same on every rerun)."""
    if fraction >= 1.0:
        return Path(spec.yaml_path).resolve()
    keep = subset(spec.require_images("train"), fraction, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"train_s{seed}_f{fraction:g}"
    listing = out_dir / f"{tag}.txt"
    # absolute, not resolved: Ultralytics finds a label by swapping /images/ for /labels/ in the path it is given,
    # and a linked dataset (`data convert --link`) has its images as symlinks to folders with no labels beside them
    atomic_write_text(listing, "".join(f"{os.path.abspath(p)}\n" for p in keep))
    # its root holds every listed image: a .txt list may only name files inside its dataset (data.paths)
    root = os.path.commonpath([os.path.abspath(spec.root), *(os.path.abspath(p) for p in keep)])
    doc = {"path": root, "train": str(listing.resolve()), "val": [str(p) for p in spec.splits["val"]],
           "names": dict(enumerate(spec.names))}
    return atomic_write_yaml(out_dir / f"{tag}.yaml", doc).resolve()
