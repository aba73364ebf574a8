"""What a comparison runs: its settings and trials (preset x seed x fraction), all checked before anything trains.

Every bad input fails here in one line (exit 2), and so does a budget in which not one epoch of the cheapest preset
fits (`check_budget`).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from yolo_transfer.errors import UserError
from yolo_transfer.options import CompareOptions


# Compare's own arguments, the one table for both faces: a CLI key=value for one of them would collide with the
# option named here, and a Python override (compare(..., **overrides)) with what compare sets per trial.
OWN = CompareOptions.own(data="--data", model="--model", weights="--model", seed="--seeds", time="--budget-minutes",
                         preset="--presets", fraction="--fractions", freeze="--presets (e.g. freeze:10)",
                         resume="compare: rerun the same command to resume", exist_ok=None)


def split_keep(spec: str) -> tuple[str, str | None]:
    """`full+keep-distill` -> ("full", "distill"); `full` -> ("full", None) (`presets.parse_preset`)."""
    from yolo_transfer.presets import parse_preset

    p = parse_preset(spec)
    return p.base, p.keep


@dataclass(frozen=True)
class TrialSpec:
    preset: str  # a preset spec, optionally `+keep-<method>` (the same preset keeping the checkpoint's classes)
    seed: int
    fraction: float

    @property
    def id(self) -> str:
        """Folder-safe and stable: the key of the trial in `compare.json` and the name of its run folder."""
        slug = re.sub(r"[^A-Za-z0-9.=-]+", "-", self.preset).strip("-")
        return f"{slug}_s{self.seed}_f{self.fraction:g}"

    def to_dict(self) -> dict:
        return {"id": self.id, **asdict(self)}


@dataclass
class CompareSettings:
    data: str
    weights: str
    presets: list[str]
    epochs: int | None = None
    budget_minutes: float | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    fractions: list[float] = field(default_factory=lambda: [1.0])
    imgsz: int = 640
    batch: int = 16
    device: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    retention_data: str | None = None  # every trial measures the checkpoint's classes before and after on it
    replay: str | None = None  # source-domain images for `+keep-distill` trials

    def trials(self) -> list[TrialSpec]:
        # fractions outermost, then presets, then seeds: the full-data comparison comes last so a partial run
        # still shows the data-needs curve growing, and a preset's seeds sit side by side in the table
        return [TrialSpec(p, s, f) for f in self.fractions for p in self.presets for s in self.seeds]

    def key(self) -> dict:
        """What must match for a rerun to resume this comparison (the trial set may grow)."""
        d = asdict(self)
        for k in ("presets", "seeds", "fractions", "device"):
            d.pop(k)
        return d

    def train_kwargs(self, epochs_for_budget: int | None = None) -> dict:
        """The `train()` arguments every trial shares: same data settings, same budget."""
        kw = dict(self.overrides, imgsz=self.imgsz, batch=self.batch)
        if self.retention_data:
            kw["retention_data"] = self.retention_data
        if self.replay:
            kw["replay"] = self.replay
        if self.device is not None:
            kw["device"] = self.device
        if self.budget_minutes is not None:
            # Ultralytics' time= (hours) bounds the loop and refits epochs and the lr schedule after each epoch;
            # `epochs` is only its first guess (and the plan's length for staged presets). It must be >= 2: the
            # first epoch's "final epoch" test still uses it, so epochs=1 would end the run after one epoch.
            kw.update(time=self.budget_minutes / 60.0, epochs=max(2, int(epochs_for_budget or 2)))
        else:
            kw["epochs"] = int(self.epochs)
        return kw


def parse_list(text: str | list | tuple | None, kind: type, what: str) -> list:
    if text is None:
        return []
    items = text if isinstance(text, (list, tuple)) else [t for t in str(text).replace(" ", "").split(",") if t]
    out = []
    for item in items:
        try:
            out.append(kind(item))
        except (TypeError, ValueError):
            raise UserError(f"--{what}: '{item}' is not a {'number' if kind is float else 'whole number'}")
    return out


def validate(settings: CompareSettings, presets_file: str | os.PathLike | None = None):
    """Check everything that can be checked without training; returns (DataYaml, Anatomy)."""
    from yolo_transfer.presets import make_plan
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.training.api import _validate_overrides
    from yolo_transfer.utils.env import check_device

    s = settings
    if len(s.presets) < 2:
        raise UserError(f"--presets: a comparison needs at least two presets, got {s.presets or 'none'} "
                        "(e.g. --presets frozen-backbone,full)")
    if len(set(s.presets)) != len(s.presets):
        raise UserError(f"--presets: {s.presets} names a preset twice")
    if not s.seeds or len(set(s.seeds)) != len(s.seeds):
        raise UserError(f"--seeds: give distinct seeds, e.g. 0,1,2 (got {s.seeds})")
    bad = [f for f in s.fractions if not 0 < f <= 1]
    if not s.fractions or bad or len(set(s.fractions)) != len(s.fractions):
        raise UserError(f"--fractions: each must be in (0, 1] and distinct, e.g. 0.25,0.5,1.0 (got {s.fractions})")
    if (s.epochs is None) == (s.budget_minutes is None):
        raise UserError("give exactly one of --epochs N (equal epochs) or --budget-minutes M (equal wall time per trial)")
    if s.epochs is not None and s.epochs < 1 and s.budget_minutes is None:
        raise UserError(f"--epochs must be >= 1, got {s.epochs}")
    if s.budget_minutes is not None and not s.budget_minutes > 0:
        raise UserError(f"--budget-minutes must be > 0, got {s.budget_minutes}")
    check_device(s.device)
    clash = sorted(set(OWN) & set(s.overrides))
    if clash:
        raise UserError(f"compare sets {clash} itself for each trial; use its own options instead: "
                        + ", ".join(f"{k} -> {OWN[k] or 'set by yolo-transfer itself'}" for k in clash))
    _validate_overrides(s.overrides)
    spec = check_data_yaml(s.data)
    if s.replay and not any(split_keep(p)[1] == "distill" for p in s.presets):
        raise UserError("--replay feeds `+keep-distill` trials; none is among --presets (e.g. full+keep-distill)")
    n_train = len(spec.require_images("train"))
    if n_train == 0:
        raise UserError(f"{spec.yaml_path}: the train split has no images")
    small = [f for f in s.fractions if round(f * n_train) < 2]
    if small:
        raise UserError(f"--fractions {small[0]:g} keeps fewer than 2 of the {n_train} training images; use a larger fraction")
    anatomy = anatomy_for_checks(s.weights)
    for p in s.presets:
        preset, keep = split_keep(p)
        plan = make_plan(preset, anatomy, epochs=max(int(s.epochs or 10), 1), presets_file=presets_file)  # raises
        if keep is not None:
            from yolo_transfer.training.keep import branch_point, check_method

            if check_method(keep) == "exact":
                branch_point(plan, anatomy)  # a preset with no one block of layers to copy: refused now, not mid-run
    return spec, anatomy


def anatomy_for_checks(weights: str):
    """The layer layout the presets are checked against, without building a model from a YAML (Ultralytics runs a
    forward pass to build one: seconds on a busy CPU, and each trial builds its own anyway)."""
    from yolo_transfer.anatomy import Anatomy, Layer, load_detection_model
    from yolo_transfer.weights import resolve_model

    resolved = resolve_model(weights)
    if not resolved.endswith((".yaml", ".yml")):
        return Anatomy.of(load_detection_model(resolved).model)
    from ultralytics.nn.tasks import yaml_model_load

    try:
        d = yaml_model_load(resolved)
        rows = list(d["backbone"]) + list(d["head"])
        nb = len(d["backbone"])
    except Exception as e:  # noqa: BLE001 - any unreadable YAML is the user's to fix
        raise UserError(f"--model {weights}: not a readable Ultralytics model YAML ({' '.join(str(e).split())[:200]})")
    if not rows or "Detect" not in str(rows[-1][2]):
        raise UserError(f"--model {weights}: not a detection model YAML (its last layer is not Detect)")
    parts = ["backbone" if i < nb else "head" if i == len(rows) - 1 else "neck" for i in range(len(rows))]
    return Anatomy(tuple(Layer(i, str(r[2]).removeprefix("nn."), parts[i], 0) for i, r in enumerate(rows)), resolved,
                   str(d.get("scale", "")))


def check_budget(settings: CompareSettings, presets_file: str | os.PathLike | None = None):
    """The budget's epochs per preset (`training.budget.estimate_budget`, the estimator recommend and auto use);
    refuses a budget in which not even one epoch of the cheapest preset fits."""
    from yolo_transfer.training.budget import estimate_budget

    presets = list(dict.fromkeys(split_keep(p)[0] for p in settings.presets))  # `full+keep-distill` costs as `full`
    return estimate_budget(settings.weights, settings.data, presets, settings.budget_minutes,
                           imgsz=settings.imgsz, batch=settings.batch, device=settings.device,
                           presets_file=presets_file, overrides=settings.overrides)
