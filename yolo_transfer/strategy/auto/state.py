"""`AutoState`: what an auto run planned, did and chose, in one typed record (`utils.records.JsonRecord`).

`auto.json` is written from the start (status `running`) and after every probe, so it is also the run's state:
`train --resume <auto folder>` goes on from it after Ctrl-C or a killed process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping

from yolo_transfer.utils.records import JsonRecord

AUTO_JSON = "auto.json"
FORMAT = "yolo-transfer/auto@1"


@dataclass
class Probe:
    """One candidate preset's run inside auto: its folder, curve and cost."""

    preset: str
    run_dir: str = ""
    epochs_run: int = 0
    epochs_planned: int = 0  # the schedule's length (time-bounded: Ultralytics' refitted count when it stopped)
    curve: list[float] = field(default_factory=list)  # val mAP50-95 per epoch
    curve50: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    wall_seconds: float = 0.0  # whole train() calls (set-ups, resumes, the loop): what the probe cost auto
    scores: list[dict] = field(default_factory=list)  # one per rung it took part in
    dropped_at_rung: int | None = None
    error: str | None = None
    rung_reached: int = 0  # the last rung it reached (resume skips it there)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Probe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class AutoState(JsonRecord):
    status: str = "running"  # running | interrupted | failed | complete
    epochs: int = 0  # the run's epochs (time-bounded: Ultralytics' first guess)
    budget_minutes: float | None = None
    budget_estimate: dict | None = None  # epochs per candidate in the budget (training.budget.BudgetEstimate)
    engine: str = "local"  # local | ray
    scheduler: dict | None = None  # Ray Tune's ASHA settings (engine ray)
    rungs: list[dict] = field(default_factory=list)  # [{"epoch", "candidates"}], the last one the end of the run
    epoch_cost: int = 0
    candidates: list[str] = field(default_factory=list)  # recommend's preset first
    rule: str = ""
    deferred_to_recommend: bool = False
    domain_distance: float | None = None
    recommendation: dict | None = None  # Recommendation.to_dict()
    recommend_rule: str | None = None
    bonus: dict[str, float] = field(default_factory=dict)
    incumbent: str | None = None  # recommend's preset, held unless clearly beaten (policy.HOLD)
    hold: float = 0.0
    settings: dict | None = None  # the probes' train_preset() arguments as JSON (None: not resumable)
    rung: int = 1  # the rung in progress
    alive: list[str] = field(default_factory=list)  # who is in it
    probes: list[Probe] = field(default_factory=list)
    chosen: str | None = None
    chosen_run: str | None = None
    metrics: dict = field(default_factory=dict)  # the chosen run's last epoch
    seconds_total: float = 0.0  # everything auto did, all sessions
    seconds_recommend: float = 0.0
    seconds_training: float | None = None
    seconds_chosen_run: float | None = None
    cost_ratio: float | None = None  # seconds_total / the chosen run's own seconds
    format: str = FORMAT
    extra: dict = field(default_factory=dict)  # keys this version does not know, kept as they were

    FILE: ClassVar[str] = AUTO_JSON
    WHAT: ClassVar[str] = "auto record"
    NESTED: ClassVar[tuple[str, ...]] = ("probes",)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AutoState":
        state = super().from_dict(d)
        state.probes = [Probe.from_dict(p) for p in d.get("probes", [])]
        settings = state.settings
        if settings is not None and "weights" in settings:  # written before the model-first API
            settings["model"] = settings.pop("weights")
        return state

    @classmethod
    def read(cls, auto_dir: str | os.PathLike) -> "AutoState":
        """The state of an auto folder; one-line `UserError` if it is missing or not readable."""
        return cls.load(auto_dir, damaged="; resume a probe's folder as a plain run instead")

    def write(self, auto_dir: str | os.PathLike) -> Path:
        return self.write_json(auto_dir)

    @property
    def plan(self) -> list[tuple[int, int]]:
        """The rungs as (stop epoch, candidates); the last one is the end of the run."""
        return [(int(r["epoch"]), int(r["candidates"])) for r in self.rungs]

    def probe(self, preset: str) -> Probe:
        return next(p for p in self.probes if p.preset == preset)

    @property
    def resumable(self) -> bool:
        """A resume can go on with it: local halving (or a deferred run) with settings that JSON could hold."""
        return self.settings is not None and (self.engine == "local" or self.deferred_to_recommend)


def is_auto_run(folder: str | os.PathLike) -> bool:
    """An auto run's folder (what `train --resume` hands to the strategy layer)."""
    return AutoState.exists(folder)


def settings_record(settings: Mapping[str, Any]) -> dict | None:
    """The probes' train_preset() arguments as JSON for a resume: paths absolute (a resume may start from another
    folder), mappings as dicts; None when a value has no faithful JSON form (a Python object passed as an Ultralytics
    option, e.g. augmentations=[...]): the run then works as usual but does not resume."""
    def encode(v):
        if isinstance(v, Path):
            return absolute(v)
        if isinstance(v, Mapping):
            return dict(v)
        raise TypeError(type(v).__name__)

    out = {k: absolute(v) if k in ("data", "model", "presets_file", "class_map") and isinstance(v, (str, Path))
           else v for k, v in settings.items()}
    try:
        return json.loads(json.dumps(out, default=encode))
    except (TypeError, ValueError):
        return None


def absolute(path: str | os.PathLike) -> str:
    return str(Path(path).resolve()) if Path(path).exists() else str(path)  # a hub name (yolo26n.pt) stays a name


def folder_name(preset: str) -> str:
    """A candidate preset as its probe's folder name (`freeze:10` holds a ':')."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in preset)
