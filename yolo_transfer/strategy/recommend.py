"""`recommend()`: a transfer preset before any training, from facts measured on the user's data and the checkpoint."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from yolo_transfer.errors import UserError
from yolo_transfer.strategy.facts import Facts, class_overlap, compute_facts, data_facts
from yolo_transfer.strategy.rules import DOMAIN_IMGSZ, advice, decide
from yolo_transfer.utils.env import cpu_train_threads, torch_threads
from yolo_transfer.weights import DEFAULT_MODEL

# the presets whose epochs in a budget recommend reports (its rules read full's and frozen-backbone's)
BUDGET_PRESETS = ("head-only", "frozen-backbone", "progressive", "full")


@dataclass
class Recommendation:
    """`recommend`'s answer: the preset, why (the rule that decided first, then advice), and the facts measured.

    Attributes:
        preset: the recommended preset.
        reasons: `[rule] reason` first, then one line of advice each.
        facts: what was measured (`strategy.facts.Facts.to_dict()`: data per class, object sizes, class overlap,
            the domain distance per stage, compute, and the budget's epochs per preset with the estimate behind them).
        rule: the name of the rule that decided (`strategy.rules.RULES`).
    """

    preset: str
    reasons: list[str]
    facts: dict
    rule: str = ""
    facts_obj: Facts | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"preset": self.preset, "reasons": self.reasons, "facts": self.facts}


def check_inputs(data, weights, budget_minutes=None, reference=None, images=200, device=None):
    """Everything that can be wrong with the arguments, in one line, before any work. Returns (DataYaml, weights)."""
    from yolo_transfer.strategy.domain import sample_images
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.utils.env import check_device
    from yolo_transfer.weights import resolve_weights

    check_device(device)
    if images < 1:
        raise UserError(f"--images must be at least 1, got {images}")
    if budget_minutes is not None and not (budget_minutes > 0 and math.isfinite(budget_minutes)):
        raise UserError(f"--budget-minutes must be positive, got {budget_minutes}")
    spec = check_data_yaml(data)
    train = spec.require_images("train")
    if not train:
        raise UserError(f"data YAML {spec.yaml_path}:{spec.line('train')}: the train split has no images")
    w = resolve_weights(weights)
    if w.suffix.lower() not in (".pt", ".pth"):
        raise UserError(f"--model {weights}: recommend reads a checkpoint's BatchNorm statistics; pass a .pt file")
    if reference is not None:
        sample_images(reference, 1)  # raises when the folder is missing or has no images
    return spec, w


def recommend(model: str | os.PathLike = DEFAULT_MODEL, data: str | os.PathLike | None = None, *,
              budget_minutes: float | None = None, device: str | None = None,
              reference: str | os.PathLike | None = None, images: int = 200, imgsz: int | None = None,
              seed: int = 0, batch: int = 16, trust_checkpoint: bool = False) -> Recommendation:
    """Measure the facts (data, classes, domain distance, compute) and apply the rules in `strategy.rules`.

    `images` of the train split (seeded sample) are run through the checkpoint to measure the domain distance; with
    `reference` (a folder of the checkpoint's kind of images, e.g. COCO) the same measure is taken there for scale.
    `imgsz` (the training size: object sizes, epochs in the budget) defaults to the size the checkpoint was trained
    at. The domain distance is measured at `rules.DOMAIN_IMGSZ` whatever `imgsz` is: its thresholds are in units of
    that size (the same images read nearer or farther at other sizes). The checkpoint loads restricted unless
    `trust_checkpoint`.
    """
    from yolo_transfer import safeload

    with safeload.loading(trust_checkpoint):
        return _recommend(model, data, budget_minutes, device, reference, images, imgsz, seed, batch)


def _recommend(model, data, budget_minutes, device, reference, images, imgsz, seed, batch) -> Recommendation:
    from yolo_transfer.anatomy import load_detection_model
    from yolo_transfer.strategy.domain import measure, sample_images

    if data is None:
        raise UserError("recommend needs data: a dataset YAML (YOLO layout)")
    spec, wpath = check_inputs(data, model, budget_minutes, reference, images, device)
    yolo = load_detection_model(wpath)
    if imgsz is None:
        args = getattr(yolo.model, "args", {}) or {}
        imgsz = int((args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)) or 640)
    facts = data_facts(spec.yaml_path, imgsz=imgsz)
    if not any(facts.images_per_class.values()):  # nothing to learn from: no rule applies, and training is moot
        raise UserError(f"{spec.yaml_path}: no train image has a labelled box (YOLO labels/*.txt beside images/); "
                        f"check the dataset with `yolo-transfer data check {spec.yaml_path}`")
    ckpt_names = list(dict(yolo.model.names).values())
    facts.checkpoint_classes = len(ckpt_names)
    facts.class_overlap = class_overlap(list(spec.names), ckpt_names)
    facts.class_overlap_fraction = len(facts.class_overlap) / max(facts.classes, 1)
    for k, v in compute_facts(device).items():
        setattr(facts, k, v)
    dev = device if device not in (None, "") else ("0" if facts.gpu else "cpu")
    dev = f"cuda:{dev.split(',')[0]}" if dev[0].isdigit() else dev
    sample = sample_images(spec.require_images("train"), images, seed)
    # on the CPU, at the threads training will use (`train()` sets them; the process's count depends on what ran
    # before, e.g. 1 before any training and 2 after it on 2 cores)
    with torch_threads(cpu_train_threads() if dev == "cpu" else None):
        dd = measure(yolo, sample, imgsz=DOMAIN_IMGSZ, device=dev)
        if reference is not None:
            dd.reference = measure(yolo, sample_images(reference, images, seed), imgsz=DOMAIN_IMGSZ, device=dev)
            facts.domain_reference = dd.reference.total
    facts.domain_distance = dd.total
    facts.domain = dd.to_dict()
    facts.budget_minutes = budget_minutes
    if budget_minutes is not None:  # the one estimator compare and auto use too: real steps on these images
        from yolo_transfer.training.budget import estimate_budget

        est = estimate_budget(wpath, spec.yaml_path, BUDGET_PRESETS, budget_minutes, imgsz=imgsz, batch=batch,
                              device=device, refuse=False)
        facts.epochs_in_budget = dict(est.epochs)
        facts.budget = est.to_dict()
    rule, reason = decide(facts)
    return Recommendation(rule.preset, [f"[{rule.name}] {reason}", *advice(facts)], facts.to_dict(), rule.name, facts)


def render_text(rec: Recommendation) -> str:
    f = rec.facts
    dom = f["domain"]
    stages = "  ".join(f"{k} {v:.3f}" for k, v in dom.get("per_stage", {}).items() if v is not None)
    ref = f"  (reference {f['domain_reference']:.3f})" if f.get("domain_reference") is not None else ""
    lines = [
        f"recommended preset: {rec.preset}",
        *(f"  - {r}" for r in rec.reasons),
        "facts:",
        f"  data        {f['train_images']} train / {f['val_images']} val images, {f['classes']} classes, "
        f"rarest class in {f['min_images_per_class']} images (median {f['median_images_per_class']:g})",
        f"  objects     median box {f['median_box_area_fraction']:.2%} of the image, {f['median_box_side_px']:.0f} px "
        f"at imgsz {f['imgsz']}; {f['small_object_fraction']:.0%} under 16 px",
        f"  classes     {len(f['class_overlap'])} of {f['classes']} also in the checkpoint "
        f"({f['checkpoint_classes']} classes)",
        (f"  domain      {f['domain_distance']:.3f} backbone{ref}, at {dom.get('imgsz', '?')} px; per stage {stages}"
         if f["domain_distance"] is not None else "  domain      not measured (no BatchNorm statistics to compare)"),
        f"  compute     {f['cpu_cores']} CPU cores" + (f", {f['gpu']} {f['gpu_memory_gb']} GiB" if f["gpu"] else ", no GPU")
        + (f"; budget {f['budget_minutes']:g} min ~ {f['epochs_in_budget'].get(rec.preset, '?')} epochs of "
           f"{rec.preset}" if f["budget_minutes"] is not None else ""),
    ]
    return "\n".join(lines)
