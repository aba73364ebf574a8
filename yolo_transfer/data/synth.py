"""A deterministic synthetic surface-defect dataset: the built-in default for the demo and the tests.

Textured surfaces (brushed metal, cast, woven) with three defect classes drawn on them: `scratch` (thin, long,
straight-ish), `spot` (round blob), `crack` (jagged polyline). Same arguments, same bytes: every random choice
comes from one seeded generator, and images are PNG (lossless). Written in the Ultralytics YOLO layout with a
`data.yaml` that has no `path:` key, so it resolves relative to itself and the folder can be moved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from yolo_transfer.utils.io import atomic_dir, atomic_write_yaml

CLASSES = ("scratch", "spot", "crack")
DEFAULT_ROOT = Path("datasets")


@dataclass(frozen=True)
class SynthSpec:
    name: str = "synthetic-defects"
    train: int = 48
    val: int = 16
    imgsz: int = 160
    seed: int = 0
    max_defects: int = 3
    background_fraction: float = 0.1  # images with no defect: real line data has many, and models must learn them

    def manifest(self) -> dict:
        return {"generator": "yolo_transfer.data.synth", "version": 1, **asdict(self)}


def _surface(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(3)
    base = rng.uniform(90, 170)
    img = np.full((size, size), base, np.float32)
    if kind == 0:  # brushed metal: streaks along one axis
        streaks = rng.normal(0, 12, size).astype(np.float32)
        streaks = cv2.GaussianBlur(streaks.reshape(1, -1), (1, 5), 0).ravel()
        img += streaks[None, :] if rng.random() < 0.5 else streaks[:, None]
    elif kind == 1:  # cast: low-frequency mottling
        low = rng.normal(0, 25, (size // 16 + 1, size // 16 + 1)).astype(np.float32)
        img += cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    else:  # woven: a faint periodic pattern
        period = rng.uniform(6, 14)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        img += 10 * np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)
    img += np.linspace(-1, 1, size, dtype=np.float32)[None, :] * rng.uniform(-20, 20)  # uneven lighting
    img += rng.normal(0, 4, img.shape).astype(np.float32)  # sensor noise
    tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
    return np.clip(img[..., None] * tint, 0, 255)


def _defect(rng: np.random.Generator, img: np.ndarray, cls: int) -> tuple[float, float, float, float] | None:
    size = img.shape[0]
    contrast = rng.choice([-1.0, 1.0]) * rng.uniform(45, 90)
    layer = np.zeros(img.shape[:2], np.float32)
    if cls == 0:  # scratch
        length = rng.uniform(0.25, 0.6) * size
        angle = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0.2, 0.8, 2) * size
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        p1 = (int(cx - dx), int(cy - dy))
        p2 = (int(cx + dx), int(cy + dy))
        cv2.line(layer, p1, p2, 1.0, thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    elif cls == 1:  # spot
        r = rng.uniform(0.03, 0.09) * size
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        axes = (max(int(r), 2), max(int(r * rng.uniform(0.6, 1.0)), 2))
        cv2.ellipse(layer, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), 1.0)
    else:  # crack: a random walk with a preferred direction
        n = int(rng.integers(6, 12))
        angle = rng.uniform(0, 2 * np.pi)
        pts = [rng.uniform(0.25, 0.75, 2) * size]
        for _ in range(n):
            angle += rng.normal(0, 0.6)
            step = rng.uniform(0.03, 0.07) * size
            pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
        poly = np.clip(np.array(pts), 0, size - 1).astype(np.int32)
        cv2.polylines(layer, [poly], False, 1.0, thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    ys, xs = np.nonzero(layer > 0.2)
    if len(xs) < 4:
        return None
    x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    if (x2 - x1) < 3 or (y2 - y1) < 3:
        return None
    img += layer[..., None] * contrast
    return float(x1), float(y1), float(x2), float(y2)


def _sample(rng: np.random.Generator, spec: SynthSpec) -> tuple[np.ndarray, list[str]]:
    img = _surface(rng, spec.imgsz)
    lines = []
    if rng.random() >= spec.background_fraction:
        for _ in range(int(rng.integers(1, spec.max_defects + 1))):
            cls = int(rng.integers(len(CLASSES)))
            box = _defect(rng, img, cls)
            if box is None:
                continue
            x1, y1, x2, y2 = box
            s = spec.imgsz
            lines.append(f"{cls} {(x1 + x2) / 2 / s:.6f} {(y1 + y2) / 2 / s:.6f} {(x2 - x1) / s:.6f} {(y2 - y1) / s:.6f}")
    return np.clip(img, 0, 255).astype(np.uint8), lines


def make_synthetic_dataset(root: str | Path = DEFAULT_ROOT, spec: SynthSpec | None = None, **kwargs) -> Path:
    """Write (or reuse) the dataset and return the path of its `data.yaml`.

    An existing folder with the same manifest is reused as is; one with a different manifest is an error rather
    than silently mixed. The folder appears only when complete (built under a temporary name, then renamed).
    """
    from yolo_transfer.errors import UserError

    spec = spec or SynthSpec(**kwargs)
    out = Path(root) / spec.name
    yaml_path = out / "data.yaml"
    manifest_path = out / "manifest.json"
    if out.exists():
        if manifest_path.exists() and json.loads(manifest_path.read_text()) == spec.manifest():
            return yaml_path
        raise UserError(f"{out} exists but was not made with these settings; remove it or choose another --name")

    rng = np.random.default_rng(spec.seed)
    with atomic_dir(out) as tmp:
        for split, count in (("train", spec.train), ("val", spec.val)):
            (tmp / "images" / split).mkdir(parents=True)
            (tmp / "labels" / split).mkdir(parents=True)
            for i in range(count):
                img, lines = _sample(rng, spec)
                stem = f"{split}_{i:05d}"
                cv2.imwrite(str(tmp / "images" / split / f"{stem}.png"), img)
                (tmp / "labels" / split / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
        atomic_write_yaml(
            tmp / "data.yaml",
            {"train": "images/train", "val": "images/val", "nc": len(CLASSES), "names": dict(enumerate(CLASSES))},
        )
        (tmp / "manifest.json").write_text(json.dumps(spec.manifest(), indent=2) + "\n")
    return yaml_path


def scan_like_image(seed: int, size: int = 256) -> np.ndarray:
    """A grayscale image like an MRI/CT slice or a cell on black: dark noisy background, one bright organ-like
    shape (random smooth outline, textured inside, off-centre a little) and a few blobs. Different seeds give
    *different* images that a 64-bit perceptual hash still often calls near-identical: the look-alikes a
    leakage check must not flag (bench/leakage.py, tests/data/test_leakage.py)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = size / 2 + rng.normal(0, size * 0.04, 2)
    theta = np.arctan2(yy - cy, xx - cx)
    radius = np.full_like(theta, size * rng.uniform(0.25, 0.36))
    for k in range(2, 7):  # smooth random outline: a few harmonics of the angle
        radius *= 1 + rng.uniform(0, 0.12 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.75, 1.25)
    dist = np.hypot((xx - cx) * aspect, (yy - cy) / aspect)
    inside = np.clip((radius - dist) / 3.0, 0, 1)  # soft edge
    tex_scale = int(rng.integers(4, 24))  # texture: smoothed noise at a random scale
    noise = cv2.resize(rng.normal(0, 1, (tex_scale, tex_scale)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    organ = rng.uniform(120, 190) + rng.uniform(15, 40) * noise
    img = rng.normal(rng.uniform(5, 20), 3, (size, size)).astype(np.float32)  # dark background
    img = img * (1 - inside) + organ * inside
    for _ in range(int(rng.integers(2, 6))):  # a few blobs, brighter or darker, mostly inside the organ
        bx, by = np.array([cx, cy]) + rng.normal(0, size * 0.12, 2)
        r = rng.uniform(size * 0.02, size * 0.07)
        blob = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * r * r))
        img += rng.choice([-1, 1]) * rng.uniform(30, 70) * blob
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    return np.clip(img, 0, 255).astype(np.uint8)
