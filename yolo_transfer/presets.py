"""Transfer strategies by name: each preset turns a model's anatomy into a `FreezePlan`.

A plan says, per layer, from which epoch it trains (never, from the start, or from a later stage) and at what
learning-rate multiple. Built-in presets and users' YAML presets share one schema (`PresetSpec` below); the
parameterised built-ins (`freeze:N`, `progressive:neck=2,backbone=4`, `discriminative:ratio=0.1`) are small
functions that return that schema. Spec strings are `name` or `name:ARGS`.

YAML presets file (`--presets-file my.yaml`), each entry in the same schema::

    bottom-frozen:
      description: freeze the first half of the backbone
      freeze: [0, 1, 2, 3, 4]          # parts (backbone/neck/head/all) or layer indices; the rest trains
    slow-thaw:
      train: [head]                    # or: what trains from epoch 0 (default: all)
      stages: [{epoch: 2, unfreeze: [neck]}, {epoch: "60%", unfreeze: [backbone]}]
      lr_scale: {backbone: 0.1, neck: 0.3}
      layer_decay: 0.9                 # backbone lr falls by this factor per layer toward the input
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable


from yolo_transfer.anatomy import PARTS, Anatomy
from yolo_transfer.errors import UserError


@dataclass(frozen=True)
class Stage:
    epoch: int  # where the stage starts in a run of the plan's own length
    trainable: tuple[int, ...]  # layers that train from this epoch on
    # a stage given as a share of the run ("60%", progressive's defaults): it moves with the run's length, which a
    # time-bounded run only learns as it goes (Ultralytics refits its epoch count after every epoch)
    fraction: float | None = None

    def to_dict(self) -> dict:
        d = {"epoch": self.epoch, "trainable": list(self.trainable)}
        return {**d, "fraction": self.fraction} if self.fraction is not None else d


def place(fractions: Iterable[tuple[int, float | None]], epochs: int) -> list[int]:
    """The epoch each stage starts at in a run of `epochs` epochs, from (fixed epoch, fraction or None) per stage:
    a share rounds to at least epoch 1 and not before the stage before it (on a tie the later stage takes the epoch:
    progressive's thirds of a 2-epoch run thaw neck and backbone together at epoch 1)."""
    out: list[int] = []
    for epoch, fraction in fractions:
        if fraction is not None:
            epoch = max(1, round(fraction * epochs), out[-1] if out else 0)
        out.append(epoch)
    return out


@dataclass
class FreezePlan:
    preset: str
    description: str
    num_layers: int
    stages: tuple[Stage, ...]
    lr_scale: tuple[float, ...]  # one multiplier of lr0 per layer
    parts: dict[str, list[int]] = field(default_factory=dict)

    def stage_at(self, epoch: int, epochs: int | None = None) -> int:
        """The stage in force at `epoch`; `epochs`: the run's length if it is not the plan's own (a time-bounded
        run's refitted count), which moves the stages given as shares of the run."""
        starts = [s.epoch for s in self.stages] if epochs is None else \
            place(((s.epoch, s.fraction) for s in self.stages), epochs)
        return max(i for i, start in enumerate(starts) if start <= epoch)

    @property
    def relative(self) -> bool:
        """Whether some stage is a share of the run (it moves when a time budget refits the epoch count)."""
        return any(s.fraction is not None for s in self.stages)

    def trainable_at(self, epoch: int) -> set[int]:
        return self.trainable_in(self.stage_at(epoch))

    def trainable_in(self, stage: int) -> set[int]:
        return set(self.stages[stage].trainable)

    def frozen_at(self, epoch: int) -> set[int]:
        return set(range(self.num_layers)) - self.trainable_at(epoch)

    @property
    def never_trained(self) -> set[int]:
        """Layers frozen in every stage: their tensors must come out of training bit-identical."""
        return set(range(self.num_layers)) - set().union(*(s.trainable for s in self.stages))

    def part_of(self, index: int) -> str:
        return next((p for p, idx in self.parts.items() if index in idx), "?")

    def to_dict(self) -> dict:
        return {"preset": self.preset, "description": self.description, "num_layers": self.num_layers,
                "stages": [s.to_dict() for s in self.stages], "lr_scale": list(self.lr_scale), "parts": self.parts}

    @classmethod
    def from_dict(cls, d: dict) -> "FreezePlan":
        return cls(
            d["preset"], d.get("description", ""), int(d["num_layers"]),
            tuple(Stage(int(s["epoch"]), tuple(s["trainable"]), s.get("fraction")) for s in d["stages"]),
            tuple(float(x) for x in d["lr_scale"]), {k: list(v) for k, v in d.get("parts", {}).items()},
        )

    def layer_table(self) -> list[dict]:
        """One row per layer: part, the epoch it starts training (None: never) and its lr multiple."""
        rows = []
        for i in range(self.num_layers):
            start = next((s.epoch for s in self.stages if i in s.trainable), None)
            rows.append({"layer": i, "part": self.part_of(i), "trains_from_epoch": start, "lr_scale": self.lr_scale[i]})
        return rows


# --- the shared schema ------------------------------------------------------------------------------------------

SPEC_KEYS = {"description", "train", "freeze", "stages", "lr_scale", "layer_decay"}


def _select(anatomy: Anatomy, items: Iterable[Any], where: str) -> set[int]:
    out: set[int] = set()
    for item in items:
        if isinstance(item, str) and not item.strip().lstrip("-").isdigit():
            if item not in PARTS and item != "all":
                raise UserError(f"{where}: unknown part '{item}'; use backbone, neck, head, all or layer indices")
            out |= set(anatomy.indices(item))
        else:
            i = int(item)
            if not 0 <= i < anatomy.num_layers:
                raise UserError(f"{where}: layer {i} does not exist (this model has layers 0-{anatomy.num_layers - 1})")
            out.add(i)
    return out


def _epoch(value: Any, where: str) -> tuple[int, float | None]:
    """(fixed epoch, None) or (0, fraction) for a percentage like '60%' (placed by `place`)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            pct = float(value.strip()[:-1])
        except ValueError:
            pct = -1.0
        if not 0 < pct <= 100:
            raise UserError(f"{where}: a percentage epoch must be above 0% and at most 100%, got {value!r}")
        return 0, pct / 100
    try:
        e = int(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: epoch must be a whole number or a percentage like '50%', got {value!r}")
    if e < 0:
        raise UserError(f"{where}: epoch must be >= 0, got {e}")
    return e, None


def plan_from_spec(name: str, spec: dict, anatomy: Anatomy, epochs: int) -> FreezePlan:
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise UserError(f"preset '{name}': unknown key(s) {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    if "train" in spec and "freeze" in spec:
        raise UserError(f"preset '{name}': give either 'train' or 'freeze', not both")
    everything = set(range(anatomy.num_layers))
    if "freeze" in spec:
        trainable = everything - _select(anatomy, spec["freeze"] or [], f"preset '{name}' freeze")
    else:
        trainable = _select(anatomy, spec.get("train", ["all"]), f"preset '{name}' train")
    if not trainable:
        raise UserError(f"preset '{name}' leaves nothing to train on this model ({anatomy.num_layers} layers)")
    stages = [Stage(0, tuple(sorted(trainable)))]
    given = [(_epoch(st.get("epoch"), f"preset '{name}' stage {k + 1}"), st)
             for k, st in enumerate(spec.get("stages") or [])]
    # in the order the stages start in a run of `epochs` (a share of the run placed as `place` does)
    given.sort(key=lambda g: g[0][0] if g[0][1] is None else g[0][1] * epochs)
    for k, ((fixed, fraction), st) in enumerate(given):
        where = f"preset '{name}' stage {k + 1}"
        if fraction is None and fixed == 0:
            raise UserError(f"{where}: a later stage must start after epoch 0; put epoch-0 layers in 'train'")
        trainable = trainable | _select(anatomy, st.get("unfreeze", []), where)
        if len(stages) > 1 and (stages[-1].fraction, stages[-1].epoch) == (fraction, fixed):
            stages[-1] = Stage(fixed, tuple(sorted(trainable)), fraction)  # two stages at one epoch (or share) are one
        else:
            stages.append(Stage(fixed, tuple(sorted(trainable)), fraction))
    starts = place(((s.epoch, s.fraction) for s in stages), epochs)
    stages = [Stage(e, s.trainable, s.fraction) for e, s in zip(starts, stages)]
    scale = [1.0] * anatomy.num_layers
    for key, mult in (spec.get("lr_scale") or {}).items():
        if not float(mult) > 0:
            raise UserError(f"preset '{name}' lr_scale[{key}] must be > 0, got {mult}")
        for i in _select(anatomy, [key], f"preset '{name}' lr_scale"):
            scale[i] = float(mult)
    decay = float(spec.get("layer_decay", 1.0))
    if not 0 < decay <= 1:
        raise UserError(f"preset '{name}' layer_decay must be in (0, 1], got {decay}")
    backbone = anatomy.indices("backbone")
    for depth, i in enumerate(reversed(backbone)):  # deepest backbone layer keeps its scale, the stem decays most
        scale[i] *= decay**depth
    return FreezePlan(
        name, str(spec.get("description", "")), anatomy.num_layers, tuple(stages), tuple(scale),
        {p: anatomy.indices(p) for p in PARTS},
    )


# --- the registry -----------------------------------------------------------------------------------------------

PresetFn = Callable[..., dict]


@dataclass(frozen=True)
class PresetInfo:
    """A registry entry: what the preset is called, says and builds; `example` is a spec that shows its arguments."""

    name: str
    summary: str
    fn: PresetFn
    example: str = ""

    @property
    def spec(self) -> str:
        return self.example or self.name


REGISTRY: dict[str, PresetInfo] = {}


def register(name: str, summary: str, example: str = ""):
    def deco(fn: PresetFn) -> PresetFn:
        REGISTRY[name] = PresetInfo(name, summary, fn, example)
        return fn

    return deco


@register("head-only", "only the Detect head trains (linear-probe style: cheapest, adapts least)")
def _head_only(anatomy: Anatomy, epochs: int) -> dict:
    return {"train": ["head"]}


@register("frozen-backbone", "backbone frozen, neck and head train (classic transfer learning)")
def _frozen_backbone(anatomy: Anatomy, epochs: int) -> dict:
    return {"freeze": ["backbone"]}


@register("full", "everything trains (full fine-tuning: adapts most, needs more data)")
def _full(anatomy: Anatomy, epochs: int) -> dict:
    return {"train": ["all"]}


@register("freeze", "freeze:N freezes layers 0..N-1 (Ultralytics' freeze=N)", example="freeze:10")
def _freeze_n(anatomy: Anatomy, epochs: int, arg: str = "") -> dict:
    if not arg.strip().isdigit():
        raise UserError(f"preset 'freeze:{arg}': give the number of leading layers to freeze, e.g. freeze:10")
    return {"freeze": list(range(min(int(arg), anatomy.num_layers)))}


@register("layers", "layers:0-4,7 freezes exactly these layer indices", example="layers:0-4")
def _layers(anatomy: Anatomy, epochs: int, arg: str = "") -> dict:
    idx: list[int] = []
    for tok in filter(None, arg.replace(" ", "").split(",")):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", tok)
        if not m:
            raise UserError(f"preset 'layers:{arg}': '{tok}' is not an index or range like 0-4")
        lo, hi = int(m[1]), int(m[2] or m[1])
        idx.extend(range(lo, hi + 1))
    if not idx:
        raise UserError("preset 'layers:' needs layer indices to freeze, e.g. layers:0-4,7")
    return {"freeze": idx}


@register("progressive", "staged unfreezing: head, then +neck, then +backbone (progressive:neck=E1,backbone=E2)")
def _progressive(anatomy: Anatomy, epochs: int, neck: str | None = None, backbone: str | None = None) -> dict:
    if neck is None and backbone is None:  # thirds of the run, however long a time budget makes it (`place`)
        e1, e2 = f"{100 / 3}%", f"{200 / 3}%"
    else:
        e1 = int(neck) if neck is not None else max(1, round(epochs / 3))
        e2 = int(backbone) if backbone is not None else max(e1 + 1, round(2 * epochs / 3))
        if not 0 < e1 <= e2:
            raise UserError(f"preset progressive: need 0 < neck epoch <= backbone epoch, got neck={e1}, backbone={e2}")
    return {"train": ["head"], "stages": [{"epoch": e1, "unfreeze": ["neck"]}, {"epoch": e2, "unfreeze": ["backbone"]}]}


@register("discriminative", "all trains; backbone at lr0*ratio, neck at lr0*sqrt(ratio) (discriminative:ratio=0.1,decay=1)")
def _discriminative(anatomy: Anatomy, epochs: int, ratio: str = "0.1", decay: str = "1.0") -> dict:
    r = float(ratio)
    if not 0 < r <= 1:
        raise UserError(f"preset discriminative: ratio must be in (0, 1], got {ratio}")
    # the neck sits between the backbone and the head, so its multiple is the geometric mean of theirs
    return {"train": ["all"], "lr_scale": {"backbone": r, "neck": math.sqrt(r)}, "layer_decay": float(decay)}


KEEP = "+keep-"  # `full+keep-distill`: the preset, trained keeping the checkpoint's classes (training.keep)


@dataclass(frozen=True)
class PresetSpec:
    """A preset as written, parsed once: `name[:arg][+keep-<method>]`, or `auto[:a,b,c]` (a choice among presets).

    Attributes:
        text: what was written; base: it without the keep modifier; name, arg: the registry name and its argument.
        keep: the keep-classes method of a `+keep-<method>` modifier (train's --keep-classes --keep-method), or None.
        auto: a choice among presets by the strategy layer; candidates: its presets (empty: the default ones).
    """

    text: str
    base: str
    name: str
    arg: str = ""
    keep: str | None = None
    auto: bool = False
    candidates: tuple[str, ...] = ()


def parse_preset(spec: object) -> PresetSpec:
    """The one reader of the preset grammar (train, compare, auto and the plan all call it)."""
    text = str(spec).strip()
    base, sep, method = text.partition(KEEP)
    keep = (method.strip() or None) if sep else None
    if sep and keep is None:
        raise UserError(f"preset '{text}': {KEEP} needs a method, e.g. full+keep-distill")
    name, _, arg = base.strip().partition(":")
    name, arg = name.strip(), arg.strip()
    auto = name == "auto"
    cands = tuple(c.strip() for c in arg.split(",") if c.strip()) if auto else ()
    return PresetSpec(text, base.strip(), name, arg, keep, auto, cands)


def is_auto(spec: object) -> bool:
    """`auto` / `auto:a,b,c`: not a preset but a choice among presets, made by the strategy layer."""
    return parse_preset(spec).auto


def _kwargs(name: str, fn: PresetFn, arg: str) -> dict:
    if not arg:
        return {}
    if "=" not in arg:
        return {"arg": arg}
    out = {}
    for tok in arg.split(","):
        k, sep, v = tok.partition("=")
        if not sep:
            raise UserError(f"preset '{name}:{arg}': '{tok}' is not key=value")
        out[k.strip()] = v.strip()
    import inspect

    allowed = [p for p in inspect.signature(fn).parameters if p not in ("anatomy", "epochs", "arg")]
    bad = set(out) - set(allowed)
    if bad:
        raise UserError(f"preset '{name}': unknown parameter(s) {sorted(bad)}; it takes {allowed or 'none'}")
    return out


def load_presets_file(path: str | Path | None) -> dict[str, dict]:
    if not path:
        return {}
    from yolo_transfer.utils.io import read_yaml_mapping

    p = Path(path)
    data = read_yaml_mapping(p, "presets file")
    if not all(isinstance(v, dict) for v in data.values()):
        raise UserError(f"presets file {p}: expected a mapping of preset name -> settings")
    clash = set(data) & set(REGISTRY)
    if clash:
        raise UserError(f"presets file {p}: {sorted(clash)} would shadow built-in presets; rename them")
    return data


def available(presets_file: str | Path | None = None) -> dict[str, str]:
    """Preset name -> one-line summary (built-ins, then the user's)."""
    out = {name: info.summary for name, info in REGISTRY.items()}
    for name, spec in load_presets_file(presets_file).items():
        out[name] = str(spec.get("description", "user preset"))
    return out


def make_plan(spec: str, anatomy: Anatomy, epochs: int = 100, presets_file: str | Path | None = None) -> FreezePlan:
    """Turn a preset spec string into a validated `FreezePlan` for this model."""
    parsed = parse_preset(spec)
    name, arg = parsed.name, parsed.arg
    user = load_presets_file(presets_file)
    if name in user:
        if arg:
            raise UserError(f"preset '{name}' comes from {presets_file} and takes no ':' arguments")
        return plan_from_spec(spec, user[name], anatomy, epochs)
    if name not in REGISTRY:
        raise UserError(f"unknown preset '{spec}'; valid presets: {', '.join(available(presets_file))}")
    fn, summary = REGISTRY[name].fn, REGISTRY[name].summary
    try:
        d = fn(anatomy, epochs, **_kwargs(name, fn, arg))
    except (TypeError, ValueError) as e:
        raise UserError(f"preset '{spec}': bad argument ({e})")
    d.setdefault("description", summary)
    return plan_from_spec(spec, d, anatomy, epochs)


@dataclass(frozen=True)
class PresetRow:
    """What one preset does to one model: the face of `yolo-transfer presets MODEL` and `TransferModel.presets()`."""

    spec: str
    summary: str
    frozen_at_start: str  # "backbone", "backbone+neck", "layers 0-9", "nothing"
    trainable_params: int  # at the start
    total_params: int
    stages: str  # later stages ("e3:12L" = from epoch 3, 12 layers train) or the lr multiples; "-" when none

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / max(self.total_params, 1)


def describe(anatomy: Anatomy, epochs: int = 50, presets_file: str | Path | None = None) -> list[PresetRow]:
    """Every preset (built-in and from `presets_file`) applied to `anatomy`: frozen parts and trainable parameters."""
    total = sum(l.params for l in anatomy.layers)
    rows = []
    for name, summary in available(presets_file).items():
        spec = REGISTRY[name].spec if name in REGISTRY else name
        plan = make_plan(spec, anatomy, epochs=epochs, presets_file=presets_file)
        frozen = sorted(plan.frozen_at(0))
        trainable = sum(l.params for l in anatomy.layers if l.index in plan.trainable_at(0))
        parts = [p for p in PARTS if set(anatomy.indices(p)) <= set(frozen)]
        what = "+".join(parts) if parts else (f"layers {frozen[0]}-{frozen[-1]}" if frozen else "nothing")
        stages = ", ".join(f"e{st.epoch}:{len(st.trainable)}L" for st in plan.stages[1:]) or "-"
        if any(x != 1.0 for x in plan.lr_scale):
            stages = f"lr x{min(plan.lr_scale):.3g}..x1"
        rows.append(PresetRow(spec, summary, what, trainable, total, stages))
    return rows
