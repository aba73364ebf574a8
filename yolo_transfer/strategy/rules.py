"""The rules `recommend` applies, all in this one module: an ordered registry of small typed rules.

Each `Rule` has a name, a condition on `Facts`, the preset it recommends and the reason it gives. Rules are tried
in order and the first whose condition holds decides; the last one always holds. They follow the five axes of the
freeze-vs-fine-tune trade-off (scope, data needs, compute, adaptability to a far domain, overfitting risk):

| # | rule | condition | preset |
|---|---|---|---|
| 1 | `budget-short` | a budget is given and `full` fits < MIN_EPOCHS (10) epochs in it | `frozen-backbone` |
| 2 | `tiny-data` | fewest images of a class < TINY (10) | `frozen-backbone` |
| 3 | `far-domain` | domain far (>= FAR) | `full` |
| 4 | `large-data` | fewest images of a class >= LARGE (1000) | `full` |
| 5 | `mid-domain` | domain not near (>= NEAR, and not within 1.5x the reference's) and below FAR | `full` |
| 6 | `default` | otherwise (near domain, or the distance not measured) | `frozen-backbone` |

Why this order and these thresholds (compare at equal wall time, per set and budget, on yolov8s-fall.pt and
yolo26n.pt): docs/evidence/strategy.md; every change to them is dated in docs/changelog.md#rule-history.

Domain thresholds are in units of the backbone's mean symmetric KL (`domain.py`), always measured at DOMAIN_IMGSZ
(320 px), the size they were set at: the same images read otherwise at other sizes
(docs/evidence/strategy.md#domain-distance). "Fewest images of a class" counts classes that have training images.
When the distance was not measured (NaN), the domain rules do not fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from yolo_transfer.strategy.facts import Facts

TINY = 10  # images per class: below it the backbone stays frozen (not measured there; from 14 images up, beyond a near
# domain, full fine-tuning won or tied when 10+ epochs fit: docs/evidence/strategy.md#yolo26n-with-14-45-images-per-class-2026-12-05)
LARGE = 1000  # images per class: enough to fine-tune everything whatever the domain
NEAR = 0.05  # domain distance: COCO-like images
FAR = 0.2  # domain distance: clearly another kind of image (microscopy, X-ray, line-scan)
REF_NEAR = 1.5  # with reference images: within this factor of their distance counts as near
DOMAIN_IMGSZ = 320  # px: the domain distance is always measured at this size, the one NEAR and FAR were set at
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
    return _measured(f) and f.domain_distance < near_limit(f)


def near_limit(f: Facts) -> float:
    """NEAR, or 1.5x the reference images' distance where that is larger."""
    return max(NEAR, REF_NEAR * (f.domain_reference if f.domain_reference is not None else 0.0))


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
    Rule("tiny-data", lambda f: f.min_images_per_class < TINY, "frozen-backbone",
         lambda f: f"only {f.min_images_per_class} images of the rarest class (< {TINY}): "
                   f"too few to adapt the backbone without overfitting, far domain or not; keep it frozen, train "
                   f"neck and head"),
    Rule("far-domain", far, "full",
         lambda f: f"{_dd(f)} >= {FAR}: the backbone's features do not fit these images, and with "
                   f"{f.min_images_per_class}+ images per class there is enough data to adapt it; fine-tune everything"),
    Rule("large-data", lambda f: f.min_images_per_class >= LARGE, "full",
         lambda f: f"{f.min_images_per_class}+ images per class (>= {LARGE}): enough data to fine-tune everything"),
    Rule("mid-domain", lambda f: _measured(f) and not near(f), "full",
         lambda f: f"{_dd(f)} between {near_limit(f):.3g} and {FAR} with {f.min_images_per_class}+ images per class: the "
                   f"backbone's features only partly fit these images, and there is enough data to adapt them; "
                   f"fine-tune everything"),
    Rule("default", lambda f: True, "frozen-backbone",
         lambda f: (f"{_dd(f)} < {near_limit(f):.3g}: the checkpoint's features fit these images" if near(f) else
                    "the domain distance was not measured (no BatchNorm statistics to compare), so nothing shows "
                    "the backbone needs training") + "; freeze the backbone, train neck and head"),
]


def decide(facts: Facts, rules: list[Rule] | None = None) -> tuple[Rule, str]:
    """The first rule whose condition holds, and its reason for these facts."""
    for rule in rules or RULES:
        if rule.condition(facts):
            return rule, rule.reason(facts)
    raise AssertionError("the last rule must always hold")  # pragma: no cover


def busy(f: Facts) -> bool:
    """Other work on at least half the CPUs while timing, besides recommend's own process (about 1 of the load):
    BCCD at 3 min was timed 3x slow with tests running on the same 2 cores, and `budget-short` fired on it."""
    return f.gpu is None and f.cpu_load is not None and bool(f.cpu_count) and f.cpu_load - 1 >= f.cpu_count / 2


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
    if facts.budget_minutes is not None and busy(facts):
        out.append(f"the CPU was busy when the training steps were timed (load {facts.cpu_load:g} on {facts.cpu_count} "
                   f"CPUs): the budget's epochs (~{facts.epochs_in_budget.get('full', 0):g} of full) may be too few; "
                   f"run recommend again when the machine is idle")
    cheapest = max(facts.epochs_in_budget.items(), key=lambda kv: kv[1], default=None)
    if facts.budget_minutes is not None and cheapest is not None and cheapest[1] < 1:
        out.append(f"the budget of {facts.budget_minutes:g} min fits less than one epoch of any preset here "
                   f"(~{cheapest[1]:g} of {cheapest[0]}): raise --budget-minutes or lower --imgsz (compare and auto "
                   f"refuse it)")
    return out
