"""The rules `recommend` applies, all in this one module: an ordered registry of small typed rules.

Each `Rule` has a name, a condition on `Facts`, the preset it recommends and the reason it gives. Rules are tried
in order and the first whose condition holds decides; the last one always holds. They follow the five axes of the
freeze-vs-fine-tune trade-off (scope, data needs, compute, adaptability to a far domain, overfitting risk):

| # | rule | condition | preset |
|---|---|---|---|
| 1 | `budget-short` | a budget is given and `full` fits < MIN_EPOCHS (10) epochs in it | `frozen-backbone` |
| 2 | `tiny-data-near` | fewest images of a class < TINY (30) and domain near (< NEAR, or < 1.5x the reference's) | `head-only` |
| 3 | `tiny-data` | fewest images of a class < TINY (30) | `frozen-backbone` |
| 4 | `far-domain` | domain far (>= FAR) and fewest images of a class >= SMALL (150) | `full` |
| 5 | `large-data` | fewest images of a class >= LARGE (1000) | `full` |
| 6 | `mid-domain` | domain between NEAR and FAR, fewest images of a class >= SMALL | `progressive` |
| 7 | `default` | otherwise (near domain, or moderate data on a far domain) | `frozen-backbone` |

Evidence (yolov8s-fall.pt, 2 CPU cores, `bench/strategy_eval.py`: `compare` at equal wall time, one seed, 192 px):
the frozen backbone was the best preset on every set measured — coco128, BCCD, cavity and 10% of BCCD at 3 min per
run, BCCD at 8 min — ahead of full fine-tuning by 0.006-0.06 mAP50-95 (the gap closing with budget on BCCD: 0.060 at
3 min, 0.006 at 8 min), of head-only by 0.005-0.18, of discriminative by 0.02-0.10 (on a brain-MRI set, too, the
frozen backbone beat full fine-tuning at equal wall time). So compute comes first, tiny data stays frozen whatever
the domain (10% of BCCD: 20-32 epochs each, frozen 0.375, full 0.347, discriminative 0.278, head-only 0.196), and
moderate data on a far domain stays frozen too (BCCD, 117 images of the rarest class). Two rules were dropped on this
evidence: `budget-very-short` -> head-only (head-only never won; it fired on cavity, where the frozen backbone ran 6
epochs and won by 0.08) and `far-domain-small-data` -> discriminative (it never won). Not measured here, kept from
the brief and Ultralytics' guide: `tiny-data-near` (head-only), `far-domain` and `large-data` (full), `mid-domain`
(progressive).

Domain thresholds are in units of the backbone's mean symmetric KL between the user's BatchNorm input statistics and
the checkpoint's running statistics (`domain.py`), calibrated by measurement with a COCO-derived YOLOv8s
(`yolov8s-fall.pt`, train images): at imgsz 320 (64 images) COCO images (coco128) 0.019, dental photos (cavity)
0.101, blood-cell microscopy (BCCD) 0.339; at imgsz 640 (100 images) 0.011, 0.228 and 0.634 — same order, but far
sets read about twice as far at 640 (the early stages see finer texture), so the thresholds hold for the 320-ish
sizes they were set at. NEAR (0.05) is ~2.5x the in-domain value; FAR (0.2) sits between the dental photos and
microscopy at 320. With `--reference` images, "near" also covers distances within 1.5x of theirs (small samples
read higher for in-domain images too). "Fewest images of a class" counts classes that have training images. When
the distance was not measured (NaN), the domain rules do not fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from yolo_transfer.strategy.facts import Facts

TINY = 30  # images per class: below this even the neck overfits; train as little as possible
SMALL = 150  # images per class: from here a far domain justifies training the backbone
LARGE = 1000  # images per class: enough to fine-tune everything whatever the domain
NEAR = 0.05  # domain distance: COCO-like images
FAR = 0.2  # domain distance: clearly another kind of image (microscopy, X-ray, line-scan)
REF_NEAR = 1.5  # with reference images: within this factor of their distance counts as near
MIN_EPOCHS = 10  # fewer epochs than this of `full` in the budget: the cheaper frozen backbone converges further


@dataclass(frozen=True)
class Rule:
    name: str
    condition: Callable[[Facts], bool]
    preset: str
    reason: Callable[[Facts], str]


def _measured(f: Facts) -> bool:
    return not math.isnan(f.domain_distance)


def near(f: Facts) -> bool:
    """Below NEAR, or (with --reference) within 1.5x of the checkpoint's own kind of images measured the same way:
    few images give noisier statistics and a higher distance for in-domain images too, the reference shows it."""
    ref = f.domain_reference if f.domain_reference is not None else 0.0
    return _measured(f) and f.domain_distance < max(NEAR, REF_NEAR * ref)


def far(f: Facts) -> bool:
    return _measured(f) and f.domain_distance >= FAR


def _dd(f: Facts) -> str:
    ref = f" (reference images: {f.domain_reference:.3f})" if f.domain_reference is not None else ""
    return f"domain distance {f.domain_distance:.3f}{ref}"


def _budget_short(f: Facts, preset: str = "full", below: float = MIN_EPOCHS) -> bool:
    e = f.epochs_in_budget.get(preset)
    return f.budget_minutes is not None and e is not None and e < below


RULES: list[Rule] = [
    Rule("budget-short", _budget_short, "frozen-backbone",
         lambda f: f"the budget of {f.budget_minutes:g} min fits only ~{f.epochs_in_budget['full']:g} epochs of full "
                   f"fine-tuning (< {MIN_EPOCHS}) but ~{f.epochs_in_budget['frozen-backbone']:g} with a frozen "
                   f"backbone: at equal wall time the frozen backbone gets further"),
    Rule("tiny-data-near", lambda f: f.min_images_per_class < TINY and near(f), "head-only",
         lambda f: f"only {f.min_images_per_class} images of the rarest class and the images are close to the "
                   f"checkpoint's ({_dd(f)} < {NEAR}): retrain the head only, anything more overfits"),
    Rule("tiny-data", lambda f: f.min_images_per_class < TINY, "frozen-backbone",
         lambda f: f"only {f.min_images_per_class} images of the rarest class (< {TINY}): "
                   f"too few to adapt the backbone without overfitting, far domain or not; keep it frozen, train "
                   f"neck and head"),
    Rule("far-domain", lambda f: far(f) and f.min_images_per_class >= SMALL, "full",
         lambda f: f"{_dd(f)} >= {FAR}: the backbone's features do not fit these images, and with "
                   f"{f.min_images_per_class}+ images per class there is enough data to adapt it; fine-tune everything"),
    Rule("large-data", lambda f: f.min_images_per_class >= LARGE, "full",
         lambda f: f"{f.min_images_per_class}+ images per class (>= {LARGE}): enough data to fine-tune everything"),
    Rule("mid-domain", lambda f: _measured(f) and f.domain_distance >= NEAR and f.min_images_per_class >= SMALL,
         "progressive",
         lambda f: f"{_dd(f)} between {NEAR} and {FAR} with {f.min_images_per_class}+ images per class: train head "
                   f"and neck first, then thaw the backbone"),
    Rule("default", lambda f: True, "frozen-backbone",
         lambda f: (f"{_dd(f)} < {NEAR}: the checkpoint's features fit these images" if near(f) else
                    f"{f.min_images_per_class} images of the rarest class (< {SMALL}) is not enough to justify "
                    f"training the backbone") + "; freeze the backbone, train neck and head"),
]


def decide(facts: Facts, rules: list[Rule] | None = None) -> tuple[Rule, str]:
    """The first rule whose condition holds, and its reason for these facts."""
    for rule in rules or RULES:
        if rule.condition(facts):
            return rule, rule.reason(facts)
    raise AssertionError("the last rule must always hold")  # pragma: no cover


def advice(facts: Facts) -> list[str]:
    """Remarks beside the preset: things the facts say that no preset fixes."""
    out = []
    if facts.small_object_fraction > 0.3:
        out.append(f"{facts.small_object_fraction:.0%} of the boxes are smaller than 16 px at imgsz {facts.imgsz}: "
                   f"a larger --imgsz (or tiling) matters more than the preset")
    if facts.class_overlap:
        out.append(f"{len(facts.class_overlap)} of {facts.classes} classes are already in the checkpoint "
                   f"({', '.join(facts.class_overlap[:5])}): their head rows are carried over")
    if facts.classes_without_images:
        out.append(f"{len(facts.classes_without_images)} of {facts.classes} classes have no training image "
                   f"({', '.join(facts.classes_without_images[:3])}{' ...' if len(facts.classes_without_images) > 3 else ''})"
                   f": no preset can learn them")
    if facts.val_images == 0:
        out.append("no val split: metrics will be measured on the training images; run 'yolo-transfer data split'")
    return out
