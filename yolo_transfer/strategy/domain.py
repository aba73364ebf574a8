"""Domain distance measured from the checkpoint alone: BatchNorm statistics as a record of the source data.

Every `BatchNorm2d` of a trained detector stores the per-channel mean and variance of its input over its training
data (`running_mean`, `running_var`). The same statistics of the user's images at the same place (eval mode: nothing
is updated) tell how far they are from the source data *as the network sees them*, with no source data at hand.

Per layer: the symmetric KL divergence between each channel's Gaussian N(mu, var) and the stored one, averaged over
channels (dead channels, stored variance ~0, are skipped: any input looks infinitely far to them); layers grouped by
part (`Anatomy`) and stage. `domain_distance` is the backbone's mean: the backbone is what `frozen-backbone` keeps.
Images are letterboxed like Ultralytics (`utils.standalone`), square at `imgsz`, sampled with a fixed seed: the same
call gives the same number.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from yolo_transfer.errors import UserError

BN_EPS = 1e-5
DEAD_VAR = 1e-4  # stored variance below this: a channel that never fired on the source data


@dataclass
class LayerDistance:
    name: str  # module path, e.g. model.4.m.0.cv1.bn
    layer: int  # top-level layer index
    part: str  # backbone / neck / head
    stage: str  # P1..P5 from the input's stride
    channels: int
    distance: float  # mean symmetric KL over live channels


@dataclass
class DomainDistance:
    images: int
    imgsz: int
    total: float  # mean over backbone layers (`facts.domain_distance`)
    per_part: dict[str, float]
    per_stage: dict[str, float]  # backbone stages, P1..P5
    layers: list[LayerDistance] = field(default_factory=list, repr=False)
    seconds_per_image: float = 0.0  # forward pass only, on the device used (feeds the compute estimate)
    reference: "DomainDistance | None" = None

    def to_dict(self, with_layers: bool = False) -> dict:
        d = {"images": self.images, "imgsz": self.imgsz, "total": self.total, "per_part": self.per_part,
             "per_stage": self.per_stage, "seconds_per_image": self.seconds_per_image}
        if with_layers:
            d["layers"] = [asdict(l) for l in self.layers]
        if self.reference is not None:
            d["reference"] = self.reference.to_dict()
            d["ratio_to_reference"] = self.total / self.reference.total if self.reference.total > 0 else None
        return d


def symmetric_kl(mu1: np.ndarray, var1: np.ndarray, mu2: np.ndarray, var2: np.ndarray) -> np.ndarray:
    """0.5 (KL(p||q) + KL(q||p)) between 1-D Gaussians, per element; 0 when they are equal."""
    d2 = (mu1 - mu2) ** 2
    return 0.25 * ((var1 + d2) / var2 + (var2 + d2) / var1) - 0.5


def sample_images(source: str | Path | Sequence[Path], n: int, seed: int = 0) -> list[Path]:
    """`n` images (seeded sample, sorted first so it does not depend on the file system's order)."""
    from yolo_transfer.data.yolo_layout import is_image

    if isinstance(source, (str, Path)):
        root = Path(source)
        if not root.is_dir():
            raise UserError(f"images folder not found: {root}")
        from yolo_transfer.utils.walk import walk_files

        paths = sorted(p for p in walk_files(root) if p.is_file() and is_image(p))
        if not paths:
            raise UserError(f"no images in {root}; pass a folder with .jpg/.png images")
    else:
        paths = sorted(Path(p) for p in source)
        if not paths:
            raise UserError("no images to measure the domain distance on")
    if n < len(paths):
        paths = sorted(random.Random(seed).sample(paths, n))
    return paths


def measure(model, images: Sequence[Path], imgsz: int = 640, device: str | None = "cpu", batch: int = 8,
            anatomy=None) -> DomainDistance:
    """Domain distance of `images` from the source data of `model` (an Ultralytics YOLO or DetectionModel)."""
    import torch

    from yolo_transfer.anatomy import Anatomy
    from yolo_transfer.utils.standalone import preprocess

    from ultralytics.engine.model import Model

    det = model.model if isinstance(model, Model) else model
    anatomy = anatomy or Anatomy.of(det)
    dev = torch.device(device or "cpu")
    det = det.to(dev).float().eval()
    stats: dict[str, list] = {}  # name -> [sum, sumsq, count, stride]
    hooks = []

    def hook_for(name):
        def pre_hook(mod, inputs):
            x = inputs[0].detach().double()
            s = stats.setdefault(name, [0.0, 0.0, 0, imgsz / x.shape[-1]])
            s[0] = s[0] + x.sum(dim=(0, 2, 3))
            s[1] = s[1] + (x * x).sum(dim=(0, 2, 3))
            s[2] += x.shape[0] * x.shape[2] * x.shape[3]
        return pre_hook

    bns = {name: m for name, m in det.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    if not bns:
        raise UserError("the model has no BatchNorm layers (fused?); pass the training checkpoint (.pt)")
    for name, m in bns.items():
        hooks.append(m.register_forward_pre_hook(hook_for(name)))
    used, timed, seconds = 0, 0, 0.0
    try:
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                arrays = [a for a in map(_read, images[i:i + batch]) if a is not None and a.ndim == 3]
                if not arrays:
                    continue
                x, _ = preprocess(arrays, imgsz)
                t0 = time.perf_counter()
                det(torch.from_numpy(x).to(dev))
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                if i or len(images) <= batch:  # the first batch pays one-off costs (allocations, thread pools)
                    seconds += time.perf_counter() - t0
                    timed += len(arrays)
                used += len(arrays)
    finally:
        for h in hooks:
            h.remove()
    if not used:
        raise UserError(f"none of the {len(images)} images could be read")

    layers = []
    for name, m in bns.items():
        if name not in stats:
            continue
        s, ss, n, stride = stats[name]
        mu = (s / n).cpu().numpy()
        var = np.maximum((ss / n).cpu().numpy() - mu**2, 0.0)
        rm = m.running_mean.detach().double().cpu().numpy()
        rv = m.running_var.detach().double().cpu().numpy()
        live = rv > DEAD_VAR
        if not live.any():
            continue
        kl = symmetric_kl(mu[live], var[live] + BN_EPS, rm[live], rv[live] + BN_EPS)
        idx = int(name.split(".")[1]) if name.startswith("model.") else -1
        part = anatomy.part_of(idx) if 0 <= idx < anatomy.num_layers else "head"
        stage = f"P{max(0, round(math.log2(max(stride, 1))))}"  # the input's stride: P1 = /2 ... P5 = /32
        layers.append(LayerDistance(name, idx, part, stage, int(live.sum()), float(kl.mean())))

    def mean(vals):
        return float(np.mean(vals)) if vals else float("nan")

    per_part = {p: mean([l.distance for l in layers if l.part == p]) for p in ("backbone", "neck", "head")}
    stages = sorted({l.stage for l in layers if l.part == "backbone"}, key=lambda s: int(s[1:]))
    per_stage = {s: mean([l.distance for l in layers if l.part == "backbone" and l.stage == s]) for s in stages}
    return DomainDistance(used, imgsz, per_part["backbone"], per_part, per_stage, layers, seconds / max(timed, 1))


def domain_distance(weights, images: str | Path | Sequence[Path], n: int = 200, imgsz: int = 640,
                    device: str | None = "cpu", seed: int = 0, reference: str | Path | None = None,
                    model=None) -> DomainDistance:
    """Load `weights` (or use `model`), sample `n` images, measure; with `reference`, measure that folder too."""
    if model is None:
        from yolo_transfer.anatomy import load_detection_model

        model = load_detection_model(weights)
    result = measure(model, sample_images(images, n, seed), imgsz=imgsz, device=device)
    if reference is not None:
        result.reference = measure(model, sample_images(reference, n, seed), imgsz=imgsz, device=device)
    return result


def _read(path) -> "np.ndarray | None":
    """predict's reader: a truncated JPEG (which OpenCV decodes half grey) is skipped, not measured."""
    from yolo_transfer.utils.imageread import BadImage, read_image

    try:
        return read_image(str(path))
    except BadImage:
        return None
