"""Deterministic synthetic datasets: the defect target task (demo and tests) and a generated source domain.

`SynthSpec`: textured surfaces (brushed metal, cast, woven) with three defect classes drawn on them: `scratch`
(bright, thin, straight), `spot` (round blob, either polarity), `crack` (dark, jagged polyline).
`SourceSpec`: eight object kinds on varied backgrounds, the stand-in for COCO that `yolo_transfer.source_model`
pretrains on when no COCO checkpoint is at hand. Same arguments, same bytes: every random choice
comes from one seeded generator, and images are PNG (lossless). Written in the Ultralytics YOLO layout with a
`data.yaml` that has no `path:` key, so it resolves relative to itself and the folder can be moved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from yolo_transfer.data.yolo_layout import format_box
from yolo_transfer.errors import UserError
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
        return {"generator": "yolo_transfer.data.synth", "version": 2, **asdict(self)}


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
    # Each class has its own look, as on a real line: a scratch catches the light (bright, straight, thin), a crack is
    # a shadow (dark, jagged), a spot is a stain or a pit (either). Strokes are at least 2 px at 128 px so that a
    # box around a thin defect is not a 1-pixel target that no model can hit at IoU 0.5.
    size = img.shape[0]
    width = max(1, round(size / 64))
    magnitude = rng.uniform(50, 90)
    layer = np.zeros(img.shape[:2], np.float32)
    if cls == 0:  # scratch
        contrast = magnitude
        length = rng.uniform(0.25, 0.6) * size
        angle = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(0.2, 0.8, 2) * size
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        cv2.line(layer, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1.0, thickness=width,
                 lineType=cv2.LINE_AA)
    elif cls == 1:  # spot
        contrast = rng.choice([-1.0, 1.0]) * magnitude
        r = rng.uniform(0.05, 0.11) * size
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        axes = (max(int(r), 2), max(int(r * rng.uniform(0.6, 1.0)), 2))
        cv2.ellipse(layer, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.8)
    else:  # crack: a random walk with a preferred direction
        contrast = -magnitude
        n = int(rng.integers(6, 12))
        angle = rng.uniform(0, 2 * np.pi)
        pts = [rng.uniform(0.25, 0.75, 2) * size]
        for _ in range(n):
            angle += rng.normal(0, 0.6)
            step = rng.uniform(0.03, 0.07) * size
            pts.append(pts[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
        poly = np.clip(np.array(pts), 0, size - 1).astype(np.int32)
        cv2.polylines(layer, [poly], False, 1.0, thickness=width + int(rng.integers(0, 2)), lineType=cv2.LINE_AA)
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
            if box is not None:
                lines.append(format_box(cls, *box, spec.imgsz, spec.imgsz))
    return np.clip(img, 0, 255).astype(np.uint8), lines


# --- the generated source domain: a stand-in for COCO -----------------------------------------------------------
# Object kinds with their own shape, colour and texture on varied, cluttered backgrounds: pretraining on them gives
# generic features and a working box regressor, what a detector carries from COCO. Like COCO, it shares low-level
# primitives (thin bars, jagged lines, disks) with the defect task, but not its classes or grey, low-contrast look.

SOURCE_CLASSES = ("disk", "ring", "square", "triangle", "star", "cross", "bar", "zigzag")


@dataclass(frozen=True)
class SourceSpec:
    name: str = "synthetic-source"
    train: int = 800
    val: int = 48
    imgsz: int = 96  # pretraining at 96 px costs half of 128 px; the features transfer to the 128 px demo
    seed: int = 0
    max_objects: int = 4

    def manifest(self) -> dict:
        return {"generator": "yolo_transfer.data.synth:source", "version": 1, **asdict(self)}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(4)
    top, bottom = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    img = np.broadcast_to((1 - t) * top + t * bottom, (size, size, 3)).astype(np.float32)  # sky-to-ground gradient
    if kind == 0:  # clouds / foliage: low-frequency colour noise
        cells = int(rng.integers(3, 9))
        low = rng.normal(0, 40, (cells, cells, 3)).astype(np.float32)
        img = img + cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    elif kind == 1:  # horizon: two regions
        y = int(rng.uniform(0.3, 0.7) * size)
        img[y:] = rng.uniform(20, 235, 3)
    elif kind == 2:  # grass / gravel: fine texture
        fine = rng.normal(0, 25, (size, size, 1)).astype(np.float32)
        img = img + cv2.GaussianBlur(fine, (0, 0), float(rng.uniform(0.6, 1.5)))[..., None]
    else:  # wall / floor: stripes or tiles
        period = rng.uniform(8, 30)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        pattern = np.sign(np.sin(xx * 2 * np.pi / period))
        if rng.random() < 0.5:  # tiles rather than stripes
            pattern = pattern * np.sign(np.sin(yy * 2 * np.pi / period))
        img = img + 20 * pattern[..., None]
    for _ in range(int(rng.integers(0, 5))):  # unlabelled clutter: soft blobs the detector must learn to ignore
        c = tuple(int(v) for v in rng.uniform(0, size, 2))
        axes = tuple(int(v) for v in rng.uniform(0.05, 0.25, 2) * size)
        clutter = np.zeros((size, size), np.float32)
        cv2.ellipse(clutter, c, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        clutter = cv2.GaussianBlur(clutter, (0, 0), float(rng.uniform(3, 8)))[..., None]
        img = img * (1 - 0.6 * clutter) + 0.6 * clutter * rng.uniform(0, 255, 3).astype(np.float32)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return img


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    kind = rng.integers(4)
    if kind == 0:
        return np.broadcast_to(colour, (size, size, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(3, 10)
    if kind == 1:  # stripes
        a = rng.uniform(0, np.pi)
        pattern = np.sign(np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period))
    elif kind == 2:  # checker
        pattern = np.sign(np.sin(xx * np.pi / period) * np.sin(yy * np.pi / period))
    else:  # speckle
        pattern = np.clip(rng.normal(0, 1, (size, size)), -1, 1).astype(np.float32)
    other = rng.uniform(0, 255, 3).astype(np.float32)
    mix = (pattern[..., None] + 1) / 2
    return colour * mix + other * (1 - mix)


def _shape_mask(rng: np.random.Generator, cls: int, size: int) -> np.ndarray:
    m = np.zeros((size, size), np.float32)
    r = rng.uniform(0.05, 0.2) * size
    cx, cy = rng.uniform(0.1, 0.9, 2) * size
    c = (int(cx), int(cy))
    a0 = rng.uniform(0, 2 * np.pi)
    name = SOURCE_CLASSES[cls]

    def poly(k: int, radii) -> np.ndarray:
        ang = a0 + np.arange(k) * 2 * np.pi / k
        return np.stack([cx + radii * np.cos(ang), cy + radii * np.sin(ang)], 1).astype(np.int32)

    if name == "disk":
        cv2.ellipse(m, c, (max(int(r), 2), max(int(r * rng.uniform(0.7, 1)), 2)), float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    elif name == "ring":
        cv2.circle(m, c, max(int(r), 3), 1.0, max(int(r * rng.uniform(0.2, 0.4)), 1), cv2.LINE_AA)
    elif name == "square":
        cv2.fillPoly(m, [poly(4, r)], 1.0, cv2.LINE_AA)
    elif name == "triangle":
        cv2.fillPoly(m, [poly(3, r)], 1.0, cv2.LINE_AA)
    elif name == "star":
        cv2.fillPoly(m, [poly(10, np.tile([r, r * 0.45], 5))], 1.0, cv2.LINE_AA)
    elif name == "cross":
        w = max(int(r * 0.35), 1)
        for a in (a0, a0 + np.pi / 2):
            d = np.array([np.cos(a), np.sin(a)]) * r
            cv2.line(m, (int(cx - d[0]), int(cy - d[1])), (int(cx + d[0]), int(cy + d[1])), 1.0, w, cv2.LINE_AA)
    elif name == "bar":  # thin and long, like a scratch
        d = np.array([np.cos(a0), np.sin(a0)]) * r * rng.uniform(1.2, 2.5)
        cv2.line(m, (int(cx - d[0]), int(cy - d[1])), (int(cx + d[0]), int(cy + d[1])), 1.0, int(rng.integers(1, 4)), cv2.LINE_AA)
    else:  # zigzag: a jagged polyline, like a crack
        pts, a = [np.array([cx, cy])], a0
        for i in range(int(rng.integers(4, 9))):
            a += (1 if i % 2 else -1) * rng.uniform(0.5, 1.2)
            pts.append(pts[-1] + rng.uniform(0.08, 0.15) * size * np.array([np.cos(a), np.sin(a)]))
        cv2.polylines(m, [np.array(pts, np.int32)], False, 1.0, int(rng.integers(1, 4)), cv2.LINE_AA)
    return m


def _source_sample(rng: np.random.Generator, spec: SourceSpec) -> tuple[np.ndarray, list[str]]:
    s = spec.imgsz
    img = _background(rng, s)
    lines = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        cls = int(rng.integers(len(SOURCE_CLASSES)))
        m = _shape_mask(rng, cls, s)
        ys, xs = np.nonzero(m > 0.3)
        if len(xs) < 6 or xs.max() - xs.min() < 3 or ys.max() - ys.min() < 3:
            continue
        m = m[..., None]
        img = img * (1 - m) + _texture(rng, s) * m
        lines.append(format_box(cls, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, s, s))
    return np.clip(img, 0, 255).astype(np.uint8), lines


def make_synthetic_dataset(root: str | Path = DEFAULT_ROOT, spec: "SynthSpec | SourceSpec | None" = None,
                           **kwargs) -> Path:
    """Write (or reuse) the dataset and return the path of its `data.yaml`. `spec`: a `SynthSpec` (the defect target
    task, the default) or a `SourceSpec` (the generated source domain). A folder with the same manifest is reused; one
    with another manifest is an error, not mixed. The folder appears only when complete (`atomic_dir`)."""
    spec = spec or SynthSpec(**kwargs)
    classes, sample = (SOURCE_CLASSES, _source_sample) if isinstance(spec, SourceSpec) else (CLASSES, _sample)
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
                img, lines = sample(rng, spec)
                stem = f"{split}_{i:05d}"
                cv2.imwrite(str(tmp / "images" / split / f"{stem}.png"), img)
                (tmp / "labels" / split / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines))
        atomic_write_yaml(
            tmp / "data.yaml",
            {"train": "images/train", "val": "images/val", "nc": len(classes), "names": dict(enumerate(classes))},
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
