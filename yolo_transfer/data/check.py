"""`check_dataset(data.yaml)`: every problem of a YOLO dataset, each pointing at a file and line.

Errors make a dataset unusable or wrong (missing folders, unreadable images, malformed label lines, class ids out
of range, coordinates outside [0, 1]). Warnings are legal but suspicious: images without labels, duplicate or tiny
boxes, rare or absent classes in train, and near-duplicate images shared between splits (leakage that inflates
validation scores). Each image is decoded once, in parallel, for its damage, bit depth and hash (`dedup.py`).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from yolo_transfer.data.dedup import DEFAULT_MAX_DISTANCE, MIN_SIMILARITY, find_near_duplicates
from yolo_transfer.data.images import probe_images
from yolo_transfer.data.yolo_layout import (duplicate_rows, is_image, label_path, load_data_yaml, read_labels,
                                            resolve_data_yaml)
from yolo_transfer.utils.walk import walk_files

TINY_PX_AT = 640  # a box is "tiny" when it would be under TINY_MIN_PX pixels on a side when trained at this size
TINY_MIN_PX = 2.0
IMBALANCE_RATIO = 10.0  # warn when the most common class has this many times the instances of the rarest


@dataclass
class Issue:
    severity: str  # "error" | "warning"
    code: str
    message: str
    file: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}[{self.code}]: {self.message}"


@dataclass
class NearDuplicate:
    a: str
    b: str
    split_a: str
    split_b: str
    distance: int  # perceptual-hash bits that differ (of 64): how it was proposed
    similarity: float  # aligned detail similarity (1 = same picture): how it was confirmed


@dataclass
class CheckReport:
    data_yaml: str
    names: list[str]
    images: dict[str, int] = field(default_factory=dict)
    instances: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> boxes
    issues: list[Issue] = field(default_factory=list)
    near_duplicates: list[NearDuplicate] = field(default_factory=list)
    max_distance: int = DEFAULT_MAX_DISTANCE
    min_similarity: float = MIN_SIMILARITY
    near_duplicate_candidates: int = 0  # cross-split pairs the hash proposed; near_duplicates are those confirmed
    pixels: dict[str, dict] = field(default_factory=dict)  # split -> bit depth, value range, auto window

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "n_errors": len(self.errors), "n_warnings": len(self.warnings),
                "counts": dict(Counter(f"{i.severity}:{i.code}" for i in self.issues))}

    def to_text(self, max_warnings_per_code: int | None = 20) -> str:
        """Every error, then warnings (at most `max_warnings_per_code` of each kind; the JSON has all)."""
        lines = [str(i) for i in self.errors]
        shown: Counter[str] = Counter()
        for w in self.warnings:
            shown[w.code] += 1
            if max_warnings_per_code is None or shown[w.code] <= max_warnings_per_code:
                lines.append(str(w))
        for code, n in shown.items():
            if max_warnings_per_code is not None and n > max_warnings_per_code:
                lines.append(f"... {n - max_warnings_per_code} more warning[{code}] (all of them with --json)")
        deep = {s: d for s, d in self.pixels.items() if d["bits"] > 8}
        if deep:
            lines.append("pixels: " + "; ".join(f"{s} {d['bits']}-bit, values {d['min']:g}-{d['max']:g} "
                                              f"(window {d['window_auto']} auto)" for s, d in deep.items()))
        imgs = ", ".join(f"{s} {n}" for s, n in self.images.items())
        lines.append(f"{self.data_yaml}: {imgs or 'no images'}; {len(self.errors)} error(s), "
                     f"{len(self.warnings)} warning(s), {len(self.near_duplicates)} cross-split near-duplicate "
                     f"pair(s) (of {self.near_duplicate_candidates} hash candidates) -> "
                     f"{'OK' if self.ok else 'FAILED'}")
        return "\n".join(lines)


def _rel(path: Path, root: Path) -> str:
    path = path.absolute()
    return os.path.relpath(path, root) if path.is_relative_to(root) else str(path)


def check_dataset(data_yaml: str | Path, near_duplicates: bool = True, max_distance: int = DEFAULT_MAX_DISTANCE,
                  workers: int = 4, show_progress: bool | None = None,
                  min_similarity: float = MIN_SIMILARITY) -> CheckReport:
    """Check a YOLO dataset. Raises UserError only when the YAML itself cannot be read; all else is reported."""
    spec = load_data_yaml(resolve_data_yaml(data_yaml))
    root = Path.cwd()  # paths in messages relative to where the user is, so terminals/editors can open them
    yaml_name = _rel(spec.yaml_path, root)
    report = CheckReport(yaml_name, spec.names, max_distance=max_distance, min_similarity=min_similarity)
    issues = report.issues
    issues += [Issue("error", "data-yaml", msg, yaml_name, line) for line, msg in spec.problems]
    nc = len(spec.names) if spec.names else None

    split_images: dict[str, list[Path]] = {}
    for split in spec.splits:
        images, missing = spec.split_images(split)
        issues += [Issue("error", "missing-folder", m, yaml_name, spec.line(split)) for m in missing]
        if not images and not missing:
            issues.append(Issue("error", "no-images", f"'{split}' has no images", yaml_name, spec.line(split)))
        split_images[split] = images
        report.images[split] = len(images)

    unique = sorted({p for imgs in split_images.values() for p in imgs})
    probes = {p.path: p for p in probe_images(unique, desc="checking images", workers=workers,
                                              show_progress=show_progress)}
    for split, images in split_images.items():
        instances = Counter()
        for img in images:
            probe = probes[img]
            rel_img = _rel(img, root)
            if probe.error:
                issues.append(Issue("error", "image", probe.error, rel_img))
            elif probe.warning:
                issues.append(Issue("warning", "image", probe.warning, rel_img))
            _check_labels(img, nc, root, issues, instances)
        report.instances[split] = {n: instances[i] for i, n in enumerate(spec.names)}
        _check_orphan_labels(spec.splits[split], images, root, issues)

    _check_pixels(report, split_images, probes, yaml_name)
    _check_balance(report, spec.line("names"), yaml_name)
    if near_duplicates:
        _check_leakage(report, split_images, probes, root, max_distance, min_similarity)
    return report


def _check_pixels(report: "CheckReport", split_images: dict[str, list[Path]], probes: dict, yaml_name: str) -> None:
    """Bit depth and value range per split; a warning where 16-bit data uses a small part of its range (an 8-bit
    loader would read it nearly black) or where the splits differ (docs: Medical and industrial images)."""
    from yolo_transfer.utils.imageread import Depth, merge

    for split, images in split_images.items():
        ok = [probes[p] for p in images if probes[p].ok]
        deep = merge([p.depth for p in ok if p.depth is not None])
        eight = sum(p.depth is None for p in ok)
        if deep is None:
            report.pixels[split] = {"bits": 8, "images": eight}
            continue
        report.pixels[split] = {"bits": deep.bits, "images": deep.images, "min": deep.vmin, "max": deep.vmax,
                                "used_bits": deep.used_bits, "window_auto": str(deep.window), "8_bit_images": eight}
        if deep.integer and deep.bits == 16 and deep.used_bits <= 12:
            report.issues.append(Issue("warning", "bit-depth", f"'{split}': {deep.images} 16-bit images use values up "
                                       f"to {deep.vmax:g} ({deep.used_bits} of 16 bits): an 8-bit loader would read "
                                       f"them nearly black; yolo-transfer maps them through the window "
                                       f"{deep.window} (auto) or --window", yaml_name))
        if eight:
            report.issues.append(Issue("warning", "bit-depth", f"'{split}': {eight} 8-bit images beside "
                                       f"{deep.images} {deep.bits}-bit ones: one window cannot suit both", yaml_name))
    depths = {s: (d["bits"], d.get("used_bits")) for s, d in report.pixels.items() if d.get("images")}
    if len(set(depths.values())) > 1:
        report.issues.append(Issue("warning", "bit-depth", "splits differ in bit depth or range: " + ", ".join(
            f"{s} {b}-bit" + (f" ({u} used)" if u else "") for s, (b, u) in depths.items()), yaml_name))


def _check_labels(img: Path, nc: int | None, root: Path, issues: list[Issue], instances: Counter) -> None:
    lp = label_path(img)
    rel_lab = _rel(lp, root)
    rows, problems = read_labels(img, nc)
    if rows is None:
        issues.append(Issue("warning", "no-label", "image has no label file (trained as background); expected "
                                                   f"{rel_lab}", _rel(img, root)))
        return
    issues += [Issue("error", p.code, p.message, rel_lab, p.line) for p in problems]
    if not len(rows) and not problems:
        issues.append(Issue("warning", "empty-label", "empty label file: the image is trained as background (no "
                                                      "objects); fine if intended", rel_lab, 1))
        return
    issues += [Issue("warning", "duplicate-box", "same class and box as an earlier line (Ultralytics drops it)",
                     rel_lab, int(rows[k, 5])) for k in duplicate_rows(rows)]
    for r in rows:
        x, y, w, h = r[1:5]
        if min(w, h) * TINY_PX_AT < TINY_MIN_PX:
            issues.append(Issue("warning", "tiny-box", f"box is {w:.5f} x {h:.5f} of the image: under "
                                                       f"{TINY_MIN_PX:g} px at imgsz {TINY_PX_AT}",
                                rel_lab, int(r[5])))
        elif x - w / 2 < -1e-3 or x + w / 2 > 1 + 1e-3 or y - h / 2 < -1e-3 or y + h / 2 > 1 + 1e-3:
            issues.append(Issue("warning", "box-outside", "box extends past the image edge (it will be clipped)",
                                rel_lab, int(r[5])))
    instances.update(int(c) for c in rows[:, 0])


def _check_orphan_labels(sources: list[Path], images: list[Path], root: Path, issues: list[Issue]) -> None:
    expected = {label_path(i) for i in images}
    for src in sources:
        lab_dir = label_path(src / "x.jpg").parent if src.is_dir() else None
        if lab_dir is None or not lab_dir.is_dir() or lab_dir == src:
            continue
        for lp in sorted(walk_files(lab_dir, "*.txt")):
            if lp not in expected and not is_image(lp):
                issues.append(Issue("warning", "orphan-label", "label file without an image (ignored by training)",
                                    _rel(lp, root)))


def _check_balance(report: CheckReport, names_line: int, yaml_name: str) -> None:
    train = report.instances.get("train")
    if not train or not report.names:
        return
    report.issues += [Issue("warning", "class-absent", f"class '{name}' has no instances in train", yaml_name,
                            names_line) for name, n in train.items() if n == 0]
    present = {k: v for k, v in train.items() if v}
    if len(present) > 1:
        most, least = max(present, key=present.get), min(present, key=present.get)
        if present[most] / present[least] >= IMBALANCE_RATIO:
            report.issues.append(Issue("warning", "class-imbalance",
                                       f"heavy class imbalance in train: '{most}' {present[most]} vs '{least}' "
                                       f"{present[least]} instances ({present[most] / present[least]:.0f}x)",
                                       yaml_name, names_line))


def _check_leakage(report: CheckReport, split_images: dict[str, list[Path]], probes: dict, root: Path,
                   max_distance: int, min_similarity: float) -> None:
    for sa, sb in itertools.combinations(split_images, 2):
        a_imgs, b_imgs = split_images[sa], split_images[sb]
        shared = set(a_imgs) & set(b_imgs)
        if shared:
            report.issues.append(Issue("warning", "shared-images", f"{len(shared)} image file(s) are in both "
                                                                   f"'{sa}' and '{sb}'", report.data_yaml))
        a = [p for p in a_imgs if p not in shared]
        b = [p for p in b_imgs if p not in shared]
        found = find_near_duplicates([probes[p].phash for p in a], [probes[p].thumb for p in a],
                                     [probes[p].phash for p in b], [probes[p].thumb for p in b],
                                     max_distance=max_distance, min_similarity=min_similarity)
        report.near_duplicate_candidates += found.candidates
        order = np.lexsort((found.pairs[:, 1], found.pairs[:, 0])) if len(found.pairs) else []
        for k in order:
            i, j, d = found.pairs[k]
            sim = round(float(found.similarity[k]), 4)
            nd = NearDuplicate(_rel(a[i], root), _rel(b[j], root), sa, sb, int(d), sim)
            report.near_duplicates.append(nd)
            report.issues.append(Issue("warning", "near-duplicate",
                                       f"near-duplicate of {sa} image {nd.a} (detail similarity {nd.similarity:.3f}, "
                                       f"hash distance {d}/64): leaks {sa} into {sb}", nd.b))
