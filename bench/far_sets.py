"""Far-domain datasets of our own with >= 150 images per class, for deriving the strategy rules (issue 27).

- `cavity-hp`: the shared dental set (cavity_coco, converted) seen through a high-pass filter in grayscale: the same
  objects and labels, with the low frequencies a COCO backbone's early layers key on removed (distance from COCO
  ~0.12 before -> farther after; `recommend` prints it);
- `NAME=DATA:N` (`--subset`, repeatable): DATA with only N of its training images (seeded sample; val and test
  whole), the same domain with less data, where the rules' data thresholds (TINY, SMALL) decide;
- `defects`: the generated surface-defect set (`yolo_transfer.data.synth`: scratches, spots, cracks on metal, cast and
  woven textures) at --defect-images train images, far from anything in COCO.

    python bench/far_sets.py --cavity /work/sets/cavity_coco/data.yaml --out /work/sets
    python bench/far_sets.py --out /work/sets --subset cavity-hp-60=/work/sets/cavity-hp/data.yaml:60
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml

from yolo_transfer.data.yolo_layout import is_image, label_path


def high_pass(img: np.ndarray) -> np.ndarray:
    """Grayscale minus its Gaussian blur (sigma 1/30 of the image), re-centred on mid-grey: edges and shapes stay,
    shading and colour go (what COCO's backbone statistics are most sensitive to). A light blur first keeps the JPEG
    noise from becoming the image."""
    g = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 1.5)
    hp = g - cv2.GaussianBlur(g, (0, 0), max(g.shape) / 30)
    hp = np.clip(128 + 2.0 * hp, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hp, cv2.COLOR_GRAY2BGR)


def copy_set(src_yaml: Path, out: Path, image_fn=None, pick=None) -> Path:
    """The set at src_yaml copied to out split by split with its labels: `pick(split, images)` chooses a split's images
    (all by default); `image_fn` transforms each image (written as JPEG), or None to copy the files as they are."""
    spec = yaml.safe_load(src_yaml.read_text())
    root = src_yaml.parent
    if out.exists():
        shutil.rmtree(out)
    for split in ("train", "val", "test"):
        if split not in spec or not (root / spec[split]).is_dir():
            continue
        images = sorted(f for f in (root / spec[split]).iterdir() if is_image(f))
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
        for f in pick(split, images) if pick else images:
            if image_fn is None:
                shutil.copy(f, out / "images" / split / f.name)
            elif (img := cv2.imread(str(f))) is not None:
                cv2.imwrite(str(out / "images" / split / (f.stem + ".jpg")), image_fn(img),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
            else:
                continue
            if (lbl := label_path(f)).exists():
                shutil.copy(lbl, out / "labels" / split / lbl.name)
    new = {k: f"images/{k}" for k in ("train", "val", "test") if (out / "images" / k).is_dir()}
    (out / "data.yaml").write_text(yaml.safe_dump({**new, "names": spec["names"]}, sort_keys=False))
    return out / "data.yaml"


def transform_set(src_yaml: Path, out: Path, fn) -> Path:
    return copy_set(src_yaml, out, image_fn=fn)


def subsample(src_yaml: Path, out: Path, n: int, seed: int = 0) -> Path:
    """A copy of the set at src_yaml with n of its training images (a seeded sample) and its val/test splits whole:
    scores stay comparable with the full set's, only the training data shrinks."""
    return copy_set(src_yaml, out, pick=lambda split, images: sorted(random.Random(seed).sample(
        images, min(n, len(images)))) if split == "train" else images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cavity", type=Path, help="cavity_coco converted to YOLO (its data.yaml)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--defect-images", type=int, default=0, help="train images of the generated defect set (0: skip)")
    p.add_argument("--defect-imgsz", type=int, default=320)
    p.add_argument("--subset", action="append", default=[], metavar="NAME=DATA:N",
                   help="a copy of DATA with N training images, at OUT/NAME (repeat)")
    p.add_argument("--seed", type=int, default=0, help="the subsets' sample")
    a = p.parse_args()
    for s in a.subset:
        name, _, rest = s.partition("=")
        data, _, n = rest.rpartition(":")
        if not (name and data and n.isdigit() and Path(data).is_file()):
            p.error(f"--subset {s}: expected NAME=DATA:N with DATA an existing data.yaml and N a number of images")
        print(f"{name}:", subsample(Path(data), a.out / name, int(n), a.seed))
    if a.cavity:
        print("cavity-hp:", transform_set(a.cavity, a.out / "cavity-hp", high_pass))
    if a.defect_images:
        from yolo_transfer.data.synth import SynthSpec, make_synthetic_dataset

        spec = SynthSpec(name="defects", train=a.defect_images, val=max(60, a.defect_images // 4),
                         imgsz=a.defect_imgsz, seed=0)
        print("defects:", make_synthetic_dataset(a.out, spec))


if __name__ == "__main__":
    main()
