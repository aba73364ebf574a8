"""The facts a strategy is chosen from: data size per class, object sizes, class overlap, domain distance, compute.

`Facts` is one flat dataclass, so the rules (`rules.py`) read plain attributes and tests build known cases by hand;
`recommend` fills it (`data_facts`, `compute_facts`, and the domain distance of `domain.py`).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SMALL_OBJECT_PX = 16  # a box side below this many pixels at the training size is hard for any stride-8 head


@dataclass
class Facts:
    # data (train split)
    classes: int = 0
    train_images: int = 0
    val_images: int = 0
    images_per_class: dict[str, int] = field(default_factory=dict)  # images containing the class
    instances_per_class: dict[str, int] = field(default_factory=dict)
    min_images_per_class: int = 0  # over the classes that have training images
    classes_without_images: list[str] = field(default_factory=list)
    median_images_per_class: float = 0.0
    # object and image sizes
    imgsz: int = 640
    median_box_area_fraction: float = 0.0  # box area / image area, median over boxes
    median_box_side_px: float = 0.0  # sqrt(box area) in pixels after resizing the image to imgsz
    small_object_fraction: float = 0.0  # share of boxes whose side is < SMALL_OBJECT_PX at imgsz
    median_image_size: tuple[int, int] = (0, 0)  # (w, h)
    # checkpoint
    checkpoint_classes: int = 0
    class_overlap: list[str] = field(default_factory=list)  # user classes the checkpoint already has
    class_overlap_fraction: float = 0.0
    # domain (from BatchNorm statistics; nan when not measured)
    domain_distance: float = float("nan")
    domain_reference: float | None = None  # same measure on --reference images
    domain: dict = field(default_factory=dict)  # per part / per stage / images / imgsz
    # compute
    cpu_cores: int = 1
    # the machine's 1-minute load average and its logical CPUs when the forward pass was timed (None: not measured,
    # or no load average here): other work on the cores slows the timing and shortens the budget's epochs
    cpu_load: float | None = None
    cpu_count: int | None = None
    gpu: str | None = None
    gpu_memory_gb: float | None = None
    budget_minutes: float | None = None
    epochs_in_budget: dict[str, float] = field(default_factory=dict)  # preset -> estimated affordable epochs
    budget: dict = field(default_factory=dict)  # the estimate behind them (training.budget.BudgetEstimate)

    def to_dict(self) -> dict:
        return _no_nan(asdict(self))


def _no_nan(v):
    """NaN (not measured) -> None, at any depth: NaN is not JSON."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_no_nan(x) for x in v)
    return v


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def class_overlap(user: list[str], checkpoint: list[str]) -> list[str]:
    """User class names the checkpoint also has (case, spaces, '-' and '_' ignored; 'Red Blood Cell' = 'red_blood_cell')."""
    have = {normalise(n) for n in checkpoint}
    return [n for n in user if normalise(n) in have]


def data_facts(data_yaml: str | Path, imgsz: int = 640) -> Facts:
    """Counts and sizes of the train split (val counted only)."""
    from yolo_transfer.data.images import image_size
    from yolo_transfer.data.yolo_layout import load_data_yaml, read_labels

    spec = load_data_yaml(data_yaml).require_ok()
    names = list(spec.names)
    images = spec.require_images("train")
    val = spec.split_images("val")[0] if "val" in spec.splits else []
    per_class_images, per_class_inst = Counter(), Counter()
    fractions, sides_px, sizes = [], [], []
    for img in images:
        try:
            w, h = image_size(img)
        except OSError:
            continue
        sizes.append((w, h))
        rows, _ = read_labels(img, len(names))
        if rows is None or not len(rows):
            continue
        cls = rows[:, 0].astype(int)
        per_class_inst.update(cls.tolist())
        per_class_images.update(set(cls.tolist()))
        area = rows[:, 3] * rows[:, 4]
        fractions += area.tolist()
        scale = imgsz / max(w, h)  # letterbox: the long side becomes imgsz
        sides_px += (np.sqrt(area * w * h) * scale).tolist()
    ipc = {n: per_class_images[i] for i, n in enumerate(names)}
    present = [v for v in ipc.values() if v] or [0]  # a class with no training image cannot be learned by any preset
    sides = np.asarray(sides_px)
    wh = np.asarray(sizes or [(0, 0)])
    return Facts(
        classes=len(names), train_images=len(images), val_images=len(val), images_per_class=ipc,
        instances_per_class={n: per_class_inst[i] for i, n in enumerate(names)},
        min_images_per_class=min(present), median_images_per_class=float(np.median(present)),
        classes_without_images=[n for n, v in ipc.items() if not v],
        imgsz=imgsz,
        median_box_area_fraction=float(np.median(fractions)) if fractions else 0.0,
        median_box_side_px=float(np.median(sides)) if len(sides) else 0.0,
        small_object_fraction=float((sides < SMALL_OBJECT_PX).mean()) if len(sides) else 0.0,
        median_image_size=(int(np.median(wh[:, 0])), int(np.median(wh[:, 1]))),
    )


def compute_facts(device: str | None = None) -> dict:
    from yolo_transfer.utils.env import usable_cores

    out = {"cpu_cores": usable_cores(), "gpu": None, "gpu_memory_gb": None, "cpu_count": os.cpu_count(),
           "cpu_load": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    if device is not None and str(device).lower() == "cpu":
        return out
    try:
        import torch

        if torch.cuda.is_available():
            i = int(str(device).split(",")[0]) if device not in (None, "") and str(device)[0].isdigit() else 0
            p = torch.cuda.get_device_properties(i)
            out.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1))
    except Exception:  # no CUDA build, broken driver: CPU facts are still true
        pass
    return out
