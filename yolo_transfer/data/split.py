"""Re-split a YOLO dataset: train/val(/test) by ratios with a seed, stratified by class presence, with groups of
near-duplicate images kept in one split (so the split itself cannot leak).

All images of the source are pooled, hashed once, grouped by confirmed near-duplicates (`dedup.py`) and dealt out
greedily (`assign_groups`: iterative stratification). Label files are copied unchanged into a new dataset folder,
written atomically with its own data.yaml, `split.json` and `split.md`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from yolo_transfer.data.dedup import DEFAULT_MAX_DISTANCE, MIN_SIMILARITY, near_duplicate_groups
from yolo_transfer.data.images import probe_images
from yolo_transfer.data.yolo_layout import (SPLITS, YoloWriter, label_path, load_data_yaml, read_labels,
                                            resolve_data_yaml)
from yolo_transfer.errors import UserError
from yolo_transfer.utils.io import atomic_dir, atomic_write_json, atomic_write_text


def parse_ratios(ratios: str | Sequence[float]) -> dict[str, float]:
    """'0.8,0.2' or (0.7, 0.2, 0.1) -> {'train': .., 'val': .., 'test': ..}; they must sum to 1."""
    try:
        values = [float(v) for v in (ratios.split(",") if isinstance(ratios, str) else ratios)]
    except ValueError:
        raise UserError(f"--ratios '{ratios}': expected numbers like 0.8,0.2 or 0.7,0.2,0.1") from None
    if not 2 <= len(values) <= 3 or any(v < 0 for v in values) or abs(sum(values) - 1) > 1e-6 or values[0] <= 0:
        raise UserError(f"--ratios '{ratios}': give 2 or 3 non-negative ratios (train,val[,test]) that sum to 1")
    return dict(zip(SPLITS, values))


@dataclass
class SplitReport:
    source: str
    output: str
    ratios: dict[str, float]
    seed: int
    max_distance: int
    names: list[str]
    min_similarity: float = MIN_SIMILARITY
    images: dict[str, int] = field(default_factory=dict)
    images_with_class: dict[str, dict[str, int]] = field(default_factory=dict)
    instances: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicate_groups: int = 0  # groups of 2+ near-duplicate images, each kept whole in one split
    grouped_images: int = 0
    assignment: dict[str, str] = field(default_factory=dict)  # output image (split/rel) -> source image

    @property
    def data_yaml(self) -> Path:
        return Path(self.output) / "data.yaml"

    def to_dict(self) -> dict:
        return {**asdict(self), "data_yaml": str(self.data_yaml)}

    def summary_lines(self) -> list[str]:
        lines = [f"Split {self.source} -> {self.output} (seed {self.seed})"]
        for s, n in self.images.items():
            per = ", ".join(f"{c} {k}" for c, k in self.images_with_class[s].items())
            lines.append(f"  {s}: {n} images ({self.ratios[s]:.0%} asked); images with class: {per}")
        groups = f"{self.duplicate_groups} ({self.grouped_images} images)"
        return lines + [f"  near-duplicate groups kept together: {groups}", f"  data.yaml: {self.data_yaml}"]

    def to_markdown(self) -> str:
        ratios = ", ".join(f"{s} {r:g}" for s, r in self.ratios.items())
        groups = (f"{self.duplicate_groups} ({self.grouped_images} images; hash distance <= {self.max_distance} "
                  f"proposed, detail similarity >= {self.min_similarity:g} confirmed)")
        out = [f"# Split of `{self.source}`", "", f"- seed {self.seed}, ratios {ratios}",
               f"- near-duplicate groups kept in one split: {groups}", "",
               "| split | images | " + " | ".join(f"{c} (images / boxes)" for c in self.names) + " |",
               "|---|---|" + "---|" * len(self.names)]
        for s, n in self.images.items():
            out.append(f"| {s} | {n} | " + " | ".join(
                f"{self.images_with_class[s][c]} / {self.instances[s][c]}" for c in self.names) + " |")
        return "\n".join(out) + "\n"


def assign_groups(presence: np.ndarray, group: np.ndarray, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Split index per image. `presence` (images x classes) bool; `group` the near-duplicate group id per image.
    Groups are placed rarest-class first, each in the split most below its target for that class (background groups:
    most below its target image count); ties are broken by the seeded shuffle."""
    rng = np.random.default_rng(seed)
    ratios = np.asarray(ratios, np.float64)
    n_groups = int(group.max()) + 1 if len(group) else 0
    g_pres = np.zeros((n_groups, presence.shape[1]), np.int64)
    np.add.at(g_pres, group, presence.astype(np.int64))
    g_size = np.bincount(group, minlength=n_groups)
    total = g_pres.sum(0)
    target_cls = ratios[:, None] * total[None, :]
    target_img = ratios * len(group)
    cur_cls = np.zeros_like(target_cls)
    cur_img = np.zeros_like(target_img)

    order = rng.permutation(n_groups)
    rarity = np.array([total[g_pres[g] > 0].min() if g_pres[g].any() else np.inf for g in order])
    order = order[np.lexsort((-g_size[order], rarity))]  # rarest class first, bigger groups first among equals
    usable = ratios > 0
    split_of_group = np.zeros(n_groups, np.int64)
    for g in order:
        img_deficit = np.where(usable, target_img - cur_img, -np.inf)
        if g_pres[g].any():
            c = np.flatnonzero(g_pres[g])[np.argmin(total[g_pres[g] > 0])]
            deficit = np.where(usable, target_cls[:, c] - cur_cls[:, c], -np.inf)
        else:
            deficit = img_deficit
        best = np.flatnonzero(deficit == deficit.max())
        if len(best) > 1:
            best = best[img_deficit[best] == img_deficit[best].max()]
        s = int(best[rng.integers(len(best))])
        split_of_group[g] = s
        cur_cls[s] += g_pres[g]
        cur_img[s] += g_size[g]
    return split_of_group[group]


def split_dataset(data_yaml: str | Path, output: str | Path, ratios: str | Sequence[float] = (0.8, 0.2),
                  seed: int = 0, link: bool = False, max_distance: int = DEFAULT_MAX_DISTANCE,
                  show_progress: bool | None = None, min_similarity: float = MIN_SIMILARITY) -> SplitReport:
    """Pool every image of `data_yaml` and re-split them into a new dataset at `output` by `ratios` (train,val[,test]):
    seeded, stratified by class presence, and near-duplicates (perceptual hash within `max_distance` bits, confirmed
    at `min_similarity`) kept in one split so that none leaks across them."""
    ratio_map = parse_ratios(ratios)
    spec = load_data_yaml(resolve_data_yaml(data_yaml)).require_ok()
    output = Path(output)
    if output.exists():
        raise UserError(f"{output} already exists; choose a new output folder (split never overwrites)")
    images = sorted({img for split in spec.splits for img in spec.require_images(split)})
    if not images:
        raise UserError(f"{spec.yaml_path}: the dataset has no images to split")

    nc = len(spec.names)
    presence = np.zeros((len(images), nc), bool)
    instances = np.zeros((len(images), nc), np.int64)
    for k, img in enumerate(images):
        rows, _ = read_labels(img, nc)  # bad lines are left for `check` to report; they are copied unchanged
        if rows is not None and len(rows):
            cls = rows[:, 0].astype(np.int64)
            presence[k, cls] = True
            np.add.at(instances[k], cls, 1)
    probes = probe_images(images, desc="hashing images", show_progress=show_progress)
    # confirmed pairs only: a hash match alone would glue unrelated look-alike images into one split
    group = near_duplicate_groups([p.phash for p in probes], [p.thumb for p in probes], max_distance, min_similarity)
    assigned = assign_groups(presence, group, list(ratio_map.values()), seed)

    names = list(ratio_map)
    report = SplitReport(str(spec.yaml_path), str(output), ratio_map, seed, max_distance, spec.names,
                         min_similarity=min_similarity)
    sizes = np.bincount(group)
    report.duplicate_groups = int((sizes > 1).sum())
    report.grouped_images = int(sizes[sizes > 1].sum())
    with atomic_dir(output) as tmp:
        writer = YoloWriter(tmp, link=link)
        for k, img in enumerate(images):
            split = names[assigned[k]]
            src_split = next((s for s in spec.splits if any(img.is_relative_to(d) for d in spec.splits[s])), "")
            rel = writer.unique_name(split, PurePosixPath(img.name), prefix=src_split)
            writer.add(split, img, rel, [])
            lab = label_path(img)
            if lab.is_file():
                shutil.copyfile(lab, tmp / "labels" / split / rel.with_suffix(".txt"))
            report.assignment[f"{split}/{rel}"] = str(img)
        for s_idx, s in enumerate(names):
            mask = assigned == s_idx
            if ratio_map[s] == 0 and not mask.any():
                continue
            report.images[s] = int(mask.sum())
            report.images_with_class[s] = dict(zip(spec.names, presence[mask].sum(0).tolist()))
            report.instances[s] = dict(zip(spec.names, instances[mask].sum(0).tolist()))
        writer.finish(spec.names, f"kept from {spec.yaml_path}")
        atomic_write_json(tmp / "split.json", report.to_dict())
        atomic_write_text(tmp / "split.md", report.to_markdown())
    return report
