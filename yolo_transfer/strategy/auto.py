"""`train(preset="auto")`: successive halving over candidate presets, with probes that are never wasted.

Every candidate starts as an ordinary `train()` run with the FULL run's settings (same `epochs`, so the same
learning-rate schedule and warm-up) and is stopped early by a callback after its rung's epochs. Ultralytics has
already written `last.pt` (with optimizer, EMA and epoch) when `on_fit_epoch_end` fires, so the survivors simply
continue with `train(resume=run_dir)` — the winner's run is one uninterrupted schedule, exactly what a plain run of
that preset would have been.

Schedule for E epochs and 3 candidates (rungs at E/6 and E/3, rounded, at least 1 and 2 epochs):

    rung 1: 3 candidates x E/6 epochs        = E/2
    rung 2: 2 survivors  x (E/3 - E/6)       = E/3
    final : 1 winner     x (E - E/3)         = 2E/3
    total                                    = 1.5 E  (one plain run = E)

so the cost is at most 1.5x one plain run in epochs (`epochs` must be >= 6; with 2 candidates the second rung is
skipped: 2 x E/3 + 2E/3 = 1.33 E). In seconds it depends on the candidates' per-epoch costs (a frozen backbone's
epoch is cheaper than full fine-tuning's); `auto.json` reports both and the ratio to the winner's own run.

`auto.json` is also the run's state, written from the start and after every probe (`status`, the settings, the rung
in progress, who is still in), so `train(resume=auto_dir)` goes on after Ctrl-C or a killed process (`resume_auto`).

Short probes favour freezing: a frozen backbone learns fast early and full fine-tuning may overtake later. The
counterweight, recorded in `auto.json`:

- domain bonus: candidates that train the backbone get + BONUS x the domain's place between NEAR and FAR
  (`bonus_for`: 0 at or below `rules.NEAR`, the full BONUS from `rules.FAR`), from the checkpoint-only domain
  distance measured by `recommend`. COCO-like images get none; microscopy gets the full BONUS.
- extrapolation (`score(..., extrapolate=x)`: + x times the slope over the last two epochs times the epochs left)
  exists for `simulate` and experiments, but is off (EXTRAPOLATE = 0): with time-bounded probes of 3-8 epochs at
  the rung, on the equal-wall-time evaluation (coco128, BCCD, cavity at 3 min, 2026-11-23) the val curves' epoch-to-
  epoch noise (a dip of 0.025, a jump of 0.08) times 10-20 epochs left swamped the mAP itself (scores of 0.8 for a
  0.19 mAP), and auto chose head-only or full where the frozen backbone was best, 0 of 3; re-run with mAP at the
  rung (and the bonus from NEAR) it ended within 0.01 of the best preset on 4 of 4 (BCCD 10 % added; README table).
  Successive halving on the metric itself is also what ASHA does.
- deferring to `recommend` where probes are blind: when `recommend`'s answer comes from a data rule that trains the
  backbone (`DEFER_RULES`: far domain with 150+ images per class, 1000+ per class, mid-distance domain with 150+ per
  class; none of them fires when the budget fits < 10 epochs of full fine-tuning), `auto` trains that preset as a
  plain run, without probes. Measured twice, both times with the probes wrong and `recommend` right: cavity at 8 min
  (progressive 0.363 and full 0.359 overtook the frozen backbone's 0.346 only after 60 % of the budget; auto chose
  frozen, 0.343) and BCCD re-split 85:15 at 5 min (full 0.605 overtook frozen's 0.590 at 75 %; at the rungs frozen led
  0.497 vs 0.465 and 0.567 vs progressive's 0.505; auto chose frozen, 0.593). Naming the candidates (`auto:a,b,c`)
  always probes.

Measured earlier (yolov8s-fall.pt, 6 epochs, imgsz 160, 2 shared CPU cores, one seed, extrapolation then on): on BCCD frozen-backbone led full
after epoch 1 (0.142 vs 0.136 mAP50-95) — the bias above — full led from epoch 2 and ended best (plain 0.390 vs
frozen 0.368); auto chose full (0.394). On 10% of BCCD and of cavity auto chose full too (best or tied with the best
plain run). Wall time in the same process: 1.52-1.62x the chosen run's own seconds (the recommend step and the
extra trainer set-ups of the dropped probes come on top of the 1.5x epochs on such short runs).

With a wall-clock budget (`time=` hours, or `--budget-minutes` on the CLI) every candidate runs Ultralytics' time
mode, as `compare --budget-minutes` does: after each epoch Ultralytics refits the epochs that fit in the budget and
the learning-rate schedule to them, so a frozen backbone gets more (cheaper) epochs than full fine-tuning. The rungs
are then shares of the budget (1/6, 1/3) in each candidate's own epochs: the most whole epochs that fit in the share
at its mean epoch time, after the probe's own set-ups (trainer, dataset, resume) and its part of the recommend step
(rounded down, so a dropped probe never costs more than its share, wall clock and all), and the winner ends exactly
where a plain time-bounded run of it would. So auto costs at most 1.5x the budget plus what the winner pays beyond
a plain run: its two resumes and its part of the recommend step (seconds).

The candidates default to `frozen-backbone` and `full` (the presets `recommend`'s rules pick) and `progressive` (the
staged middle way: no rule picks it since its stages are placed in thirds of the run as meant, but a probe may);
`auto:a,b,c` names them yourself. The recommended preset is tried first (it wins ties, and holds unless clearly
beaten: HOLD).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_transfer.errors import UserError
from yolo_transfer.training.api import TrainingFailed
from yolo_transfer.utils.console import say
from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

DEFAULT_CANDIDATES = ("frozen-backbone", "full", "progressive")
MIN_EPOCHS = 6
MIN_TIMED = 3  # epochs a budget must fit (first guess) for a timed auto: one each for two rungs and the end
NOMINAL = 12  # a timed auto's rungs are shares of this: 1/6, 1/3 of each candidate's own refitted epochs
EXTRAPOLATE = 0.0  # share of the recent slope assumed to continue; off: on short noisy probes it chose wrong (above)
BONUS = 0.02  # mAP50-95 handicap removed from backbone-training candidates on a far domain
# recommend's preset stays in unless another candidate leads it by more than this share of its mAP at the rung: one
# standard deviation of the noise on a difference between two probes, measured before it was set (2026-11-24, 3
# seeds x 5 sets, plain compare curves): epoch-to-epoch jitter 0.06 of the mAP (x sqrt 2 for a difference: 0.085),
# seed-to-seed spread of a difference at the rung 0.11-0.14. Noise scales with the level (log-log slope 1.1: 0.0002
# on coco128's ~0.01, 0.02 on BCCD's ~0.5), so the margin is relative. What it prevents: on coco128 a rung decided
# by 0.00754 against 0.00747 chose progressive (0.021 at the end) over recommend's frozen backbone (0.042).
HOLD = 0.1
MAP = "metrics/mAP50-95(B)"
# recommend's data rules that train the backbone: there `auto` trains recommend's preset without probing (above)
DEFER_RULES = ("far-domain", "large-data", "mid-domain")
DEFER_RULE = ("recommend's preset, without probes: its answer came from a data rule that trains the backbone, where "
              "short probes favour the frozen backbone (measured: cavity 8 min, BCCD 85:15 5 min)")
RULE = ("successive halving, rungs at E/6 and E/3: keep the top half by score = mAP50-95 at the rung "
        + (f"+ {EXTRAPOLATE} x max(0, slope over the last 2 epochs) x epochs left " if EXTRAPOLATE else "")
        + f"+ {BONUS} x clip((domain_distance - NEAR) / (FAR - NEAR), 0, 1) if the candidate trains the backbone "
        f"+ {HOLD} x its mAP50-95 for recommend's preset (kept unless clearly beaten); "
        "ties go to the earlier candidate (the recommended preset first)")


class ProbeStop(KeyboardInterrupt):
    """Raised from `on_fit_epoch_end` to end a probe after its rung: `last.pt` is saved and resumable, Ultralytics'
    final validation (which would strip the optimizer from last.pt) is skipped, and `train()` marks the run
    interrupted. A KeyboardInterrupt so that `train()` treats it as a pause, not a failure."""


@dataclass
class Probe:
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


def parse_candidates(spec: str, presets_file=None) -> list[str]:
    """`auto` or `auto:a,b,c` -> candidate preset specs; unknown names fail in one line."""
    from yolo_transfer.presets import _parse, available

    name, arg = spec.partition(":")[0].strip(), spec.partition(":")[2].strip()
    if name != "auto":
        raise UserError(f"not an auto preset: {spec}")
    cands = [c.strip() for c in arg.split(",") if c.strip()] if arg else list(DEFAULT_CANDIDATES)
    known = available(presets_file)
    for c in cands:
        if _parse(c)[0] not in known:
            raise UserError(f"preset auto: unknown candidate '{c}'; valid presets: {', '.join(known)}")
    if len(set(cands)) != len(cands) or len(cands) < 2:
        raise UserError(f"preset auto: give at least 2 different candidates, got {cands}")
    if len(cands) > 4:
        raise UserError(f"preset auto: at most 4 candidates keep the cost within 1.5x one run, got {len(cands)}")
    return cands


def order_candidates(cands: list[str], recommended: str) -> list[str]:
    """The recommended preset first (it wins ties); the candidates themselves are not changed (recommend's rules
    only ever pick one of the default candidates)."""
    cands = list(cands)
    if recommended in cands:
        cands.remove(recommended)
        cands.insert(0, recommended)
    return cands


def rungs(epochs: int, n: int) -> list[tuple[int, int]]:
    """[(stop_epoch, survivors)] ending with (epochs, 1); the epoch cost stays <= 1.5 x epochs."""
    r1 = max(1, round(epochs / 6))
    r2 = max(r1 + 1, round(epochs / 3))
    plan = [(r1, n), (r2, 2), (epochs, 1)] if n > 2 else [(r2, 2), (epochs, 1)]
    if epoch_cost(plan) > 1.5 * epochs + 1e-9:  # rounding at small E, or 4 candidates: drop the middle rung
        # and keep the first short enough for n probes: E + (n - 1) x r1 <= 1.5 E
        plan = [(min(r1, max(1, epochs // (2 * (n - 1)))), n), (epochs, 1)]
    return plan


def epoch_cost(plan: list[tuple[int, int]]) -> int:
    done, total = 0, 0
    for stop, k in plan:
        total += k * (stop - done)
        done = stop
    return total


def defers(rule: str | None, explicit: bool) -> bool:
    """Whether `auto` trains recommend's preset without probes: its answer came from a data rule that trains the
    backbone (DEFER_RULES), and the user did not name the candidates."""
    return not explicit and rule in DEFER_RULES


def trains_backbone(preset: str, anatomy, epochs: int = 100, presets_file=None) -> bool:
    from yolo_transfer.presets import make_plan

    plan = make_plan(preset, anatomy, epochs=epochs, presets_file=presets_file)
    return not set(anatomy.indices("backbone")) <= plan.never_trained


def bonus_for(distance: float | None) -> float:
    """The far-domain bonus: none on COCO-like images (at or below `rules.NEAR`), rising to BONUS at `rules.FAR`.
    Starting at NEAR, not 0, matters where mAPs are small: coco128 (distance 0.053, then measured at 192 px) at
    0.01-0.02 mAP50-95 got a 0.005 bonus for full fine-tuning, enough to choose it over a frozen backbone with twice
    its final mAP."""
    from yolo_transfer.strategy.rules import FAR, NEAR

    if distance is None or distance != distance:  # unknown (NaN): no bonus
        return 0.0
    return BONUS * min(1.0, max(0.0, (distance - NEAR) / (FAR - NEAR)))


def score(curve: list[float], epochs: int, bonus: float, extrapolate: float = EXTRAPOLATE, hold: float = 0.0) -> dict:
    """mAP at the rung (+ extrapolation, off) + the far-domain bonus + `hold` x the mAP for the incumbent (HOLD)."""
    e = len(curve)
    m = curve[-1] if curve else 0.0
    w = min(2, e - 1)
    slope = max(0.0, (curve[-1] - curve[-1 - w]) / w) if w >= 1 else 0.0
    extra = extrapolate * slope * (epochs - e)
    held = hold * max(m, 0.0)
    return {"epoch": e, "map": m, "slope": slope, "extrapolated": extra, "bonus": bonus, "held": held,
            "score": m + extra + bonus + held}


def holds(candidates, incumbent: str | None, hold: float = HOLD) -> dict[str, float]:
    """`hold` (HOLD) for recommend's preset where it is a candidate, 0 for the others."""
    return {c: hold if c == incumbent else 0.0 for c in candidates}


def rank(curves: dict[str, list[float]], epochs: int | dict[str, int], bonus: dict[str, float],
         extrapolate: float = EXTRAPOLATE, hold: dict[str, float] | None = None) -> list[str]:
    """Candidates best first by `score`; the sort is stable, so on equal scores the earlier candidate wins.
    `epochs` is the schedule's length, or per candidate (time-bounded runs each fit their own)."""
    length = epochs if isinstance(epochs, dict) else {c: epochs for c in curves}
    hold = hold or {}
    return sorted(curves, key=lambda c: -score(curves[c], length[c], bonus.get(c, 0.0), extrapolate,
                                               hold.get(c, 0.0))["score"])


def simulate(curves: dict[str, list[float]], epochs: int, bonus: dict[str, float] | None = None,
             extrapolate: float = EXTRAPOLATE, incumbent: str | None = None) -> str:
    """What successive halving would choose, given each candidate's full per-epoch curve (e.g. from plain runs):
    a probe to epoch k sees exactly the first k points of its plain run's curve (same schedule). Used to measure
    the rule (with and without extrapolation/bonus) against the preset that really ends best."""
    alive = list(curves)
    for stop, _ in rungs(epochs, len(alive))[:-1]:
        nxt = [k for s, k in rungs(epochs, len(curves)) if s > stop][0]
        alive = rank({c: curves[c][:stop] for c in alive}, epochs, bonus or {}, extrapolate,
                     holds(alive, incumbent))[:nxt]
    return alive[0]


def auto_train(data, weights="yolo11n.pt", preset: str = "auto", epochs: int = 50, project="runs", name="train",
               presets_file=None, resume=None, callbacks=None, device=None, imgsz: int = 640,
               recommend_images: int = 32, engine: str = "local", ray_address: str | None = None, **kwargs: Any):
    """Successive halving over the candidates in `preset` (`auto` or `auto:a,b,c`); returns the winner's
    `TrainResult` with `.auto` (the `auto.json` content) and `.auto_dir`."""
    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.training.api import check_data_yaml
    from yolo_transfer.weights import resolve_model

    t_start = time.time()
    if resume:
        return resume_auto(resume, callbacks=callbacks, device=device)
    hours = float(kwargs.get("time") or 0.0)
    if hours < 0:
        raise UserError(f"time= must be > 0 hours, got {hours}")
    if not hours and epochs < MIN_EPOCHS:
        raise UserError(f"--preset auto needs --epochs >= {MIN_EPOCHS} (probes run 1/6 and 1/3 of them), got {epochs}")
    cands = parse_candidates(preset, presets_file)
    if engine not in ("local", "ray"):
        raise UserError(f"--engine {engine}: choose local or ray")
    if engine == "ray" and hours:
        raise UserError("--preset auto --engine ray runs ASHA over epochs: give --epochs, not a time budget")
    spec = check_data_yaml(data)
    resolved = resolve_model(weights)
    if hours:  # equal wall time: `epochs` is Ultralytics' first guess only (as in compare); refused if < MIN_TIMED
        from yolo_transfer.compare.plan import CompareSettings, check_budget

        fits = check_budget(CompareSettings(str(data), resolved, list(cands), budget_minutes=hours * 60,
                                            imgsz=imgsz, batch=kwargs.get("batch", 16), device=device), spec)
        epochs = max(2, fits)
        if fits < MIN_TIMED:
            raise UserError(f"--preset auto: the budget of {hours * 60:g} min fits only ~{fits} epochs here; auto "
                            f"needs >= {MIN_TIMED} (its probes take 1/6 and 1/3 of them): raise the budget or lower "
                            f"--imgsz")
    anatomy = Anatomy.of(load_detection_model(resolved).model)
    from yolo_transfer.presets import make_plan

    for c in cands:  # bad preset arguments fail here, before any training
        make_plan(c, anatomy, epochs=epochs, presets_file=presets_file)

    rec, seconds_recommend = None, 0.0
    if resolved.endswith(".pt"):
        from yolo_transfer.strategy.recommend import recommend

        dev = "cpu" if device in (None, "", "cpu") else str(device).split(",")[0]
        t_rec = time.time()
        rec = recommend(data, resolved, budget_minutes=hours * 60 if hours else None, device=dev,
                        images=recommend_images, imgsz=imgsz)
        seconds_recommend = round(time.time() - t_rec, 2)
        cands = order_candidates(cands, rec.preset)
    deferred = defers(rec.rule if rec else None, explicit=":" in preset)
    if deferred:
        cands = [rec.preset]
    distance = rec.facts.get("domain_distance") if rec else None
    bonus_far = bonus_for(distance)
    bonus = {c: (bonus_far if trains_backbone(c, anatomy, epochs, presets_file) else 0.0) for c in cands}

    auto_dir = _unique(Path(project) / name)
    auto_dir.mkdir(parents=True)
    # timed: the rungs are shares of each candidate's refitted schedule, not of the first guess (which is only a
    # lower bound: 3 epochs guessed for cavity at 3 min, 5-9 ran)
    plan = [(NOMINAL if hours else epochs, 1)] if deferred else rungs(NOMINAL if hours else epochs, len(cands))
    settings = dict(data=data, weights=resolved, epochs=epochs, imgsz=imgsz, device=device, presets_file=presets_file,
                    **kwargs)
    # auto.json is the run's one record from the start (status running): everything an interrupted or killed auto
    # needs to go on (`train --resume <auto folder>`), then what it did
    state = {
        "format": "yolo-transfer/auto@1",
        "status": "running",
        "epochs": epochs,
        "budget_minutes": round(hours * 60, 3) if hours else None,
        "engine": engine,
        "scheduler": None,
        "rungs": [{"epoch": s, "candidates": k} for s, k in plan],
        "epoch_cost": epoch_cost(plan),
        "candidates": cands,
        "rule": DEFER_RULE if deferred else RULE,
        "deferred_to_recommend": deferred,
        "domain_distance": distance,
        "recommendation": rec.to_dict() if rec else None,
        "recommend_rule": rec.rule if rec else None,
        "bonus": bonus,
        "incumbent": rec.preset if rec and rec.preset in cands else None,  # held unless clearly beaten (HOLD)
        "hold": HOLD,
        "settings": _settings_record(settings),  # what a resume re-reads (None: cannot be written, see there)
        "rung": 1,  # the rung in progress, and who is in it
        "alive": list(cands),
        "probes": [vars(Probe(c)) for c in cands],
        "chosen": None,
        "seconds_total": 0.0,
        "seconds_recommend": seconds_recommend,
    }
    return _run(state, auto_dir, callbacks, t_start, ray_address, settings)


def _settings_record(settings: dict) -> dict | None:
    """The probes' train() arguments as JSON for a resume: paths absolute (a resume may start from another folder),
    mappings as dicts; None when a value has no faithful JSON form (a Python object passed as an Ultralytics
    option, e.g. augmentations=[...]): the run then works as usual but does not resume."""
    def encode(v):
        if isinstance(v, Path):
            return _absolute(v)
        if isinstance(v, Mapping):
            return dict(v)
        raise TypeError(type(v).__name__)

    out = {k: _absolute(v) if k in ("data", "weights", "presets_file", "class_map") and isinstance(v, (str, Path))
           else v for k, v in settings.items()}
    try:
        return json.loads(json.dumps(out, default=encode))
    except (TypeError, ValueError):
        return None


def resume_auto(auto_dir, callbacks=None, device=None):
    """Go on with an auto run that was interrupted or killed: the rungs done stand, the probe that was running
    resumes from its last epoch, and the rest runs as it would have."""
    auto_dir = Path(auto_dir)
    state = _read_state(auto_dir)
    if state.get("status") == "complete":
        raise UserError(f"--resume {auto_dir}: this auto run is complete: it chose {state['chosen']} "
                        f"({state.get('chosen_run')})")
    if "settings" not in state:
        raise UserError(f"--resume {auto_dir}: its auto.json predates resumable auto runs; resume a probe's folder "
                        f"as a plain run instead")
    if state["settings"] is None:
        raise UserError(f"--resume {auto_dir}: it was started with an option that cannot be saved to auto.json (a "
                        f"Python object); resume a probe's folder as a plain run instead")
    if state["engine"] != "local" and not state["deferred_to_recommend"]:
        raise UserError(f"--resume {auto_dir}: an --engine ray auto run does not resume (ASHA's trials are gone); "
                        f"resume the best probe's folder as a plain run")
    if device is not None:
        state["settings"]["device"] = device
    return _run(state, auto_dir, callbacks, time.time(), None)


def is_auto_run(folder) -> bool:
    """An auto run's folder (what `train --resume` hands to `resume_auto`)."""
    return (Path(folder) / "auto.json").is_file()


def _absolute(path) -> str:
    return str(Path(path).resolve()) if Path(path).exists() else str(path)  # a hub name (yolo11n.pt) stays a name


def _read_state(auto_dir: Path) -> dict:
    try:
        return json.loads((auto_dir / "auto.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"--resume {auto_dir}: cannot read auto.json ({e})") from None


def _run(state: dict, auto_dir: Path, callbacks, t_start: float, ray_address, settings: dict | None = None):
    """Run (or go on with) the plan in `state`, writing auto.json after every probe; returns the winner's result.
    `settings`: the probes' train() arguments as given (a first run); a resume has only those in `state`."""
    settings = settings if settings is not None else state["settings"]
    probes = {d["preset"]: Probe(**d) for d in state["probes"]}
    cands = state["candidates"]
    seconds_before = state["seconds_total"]

    def save(status: str) -> None:
        total = round(seconds_before + time.time() - t_start, 2)
        run_s = state.get("seconds_chosen_run")
        state.update(status=status, probes=[vars(probes[c]) for c in cands], seconds_total=total,
                     cost_ratio=round(total / run_s, 3) if run_s else None)
        atomic_write_json(auto_dir / "auto.json", state)

    save("running")
    try:
        if state["engine"] == "ray" and not state["deferred_to_recommend"]:  # deferred: a one-rung plan, here
            from yolo_transfer.strategy.auto_ray import run_asha

            chosen, result, plan, scheduler = run_asha(cands, probes, settings, state["epochs"], state["bonus"],
                                                       auto_dir, ray_address,
                                                       holds(cands, state.get("incumbent"), state.get("hold", 0.0)))
            # ASHA's stops depend on arrival order: count what ran
            state.update(rungs=[{"epoch": s, "candidates": k} for s, k in plan], scheduler=scheduler,
                         epoch_cost=sum(p.epochs_run for p in probes.values()))
        else:
            chosen, result = _halving(state, probes, auto_dir, callbacks, save, settings)
    except (KeyboardInterrupt, TrainingFailed) as e:
        # no choice yet, but the probes so far are what the user paid for: on record, and the CLI says how to go on
        save("interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
        if state["settings"] is not None and (state["engine"] == "local" or state["deferred_to_recommend"]):
            e.auto_dir = auto_dir  # resumable: the CLI says how
        raise
    state.update(chosen=chosen, chosen_run=str(result.run_dir), metrics=result.metrics,
                 seconds_training=round(sum(p.seconds for p in probes.values()), 2),
                 seconds_chosen_run=result.seconds)
    save("complete")
    seconds_total = state["seconds_total"]
    _plot(state, auto_dir / "auto.png")
    atomic_write_text(auto_dir / "auto.md", render_markdown(state))
    print(f"auto: chose {chosen} (mAP50-95 {result.metrics.get(MAP, float('nan')):.4f}); {seconds_total:.0f} s in all, "
          f"{state['cost_ratio']}x the chosen run's {result.seconds:.0f} s; report {auto_dir / 'auto.md'}", flush=True)
    result.auto = state
    result.auto_dir = auto_dir
    return result


def summary_lines(s: dict, auto_dir) -> list[str]:
    """What `--preset auto` did, for the end of the terminal output (its rung lines come as they happen)."""
    rec = s.get("recommendation") or {}
    if s.get("deferred_to_recommend"):
        how = (f"auto: no probes; recommend's answer came from a data rule that trains the backbone, where short probes "
               f"favour the frozen backbone, so it trained {s['chosen']} (auto:a,b,c probes anyway)")
    else:
        dropped = [f"{p['preset']} at rung {p['dropped_at_rung']}" for p in s["probes"] if p.get("dropped_at_rung")]
        how = (f"auto: probed {', '.join(s['candidates'])}"
               + (f" (recommend: {rec['preset']})" if rec.get("preset") else "")
               + (f"; dropped {', '.join(dropped)}" if dropped else "") + f"; chose {s['chosen']}")
    return [how, f"auto: {s['seconds_total']:.0f} s in all, {s['cost_ratio']}x the chosen run; report "
                 f"{Path(auto_dir) / 'auto.md'}"]


def _halving(state: dict, probes: dict[str, Probe], auto_dir: Path, callbacks, save, common: dict):
    """Successive halving in this process: each rung runs (or resumes) the live candidates one after another, from
    the rung `state` says is in progress; `save(status)` after every probe."""
    from yolo_transfer.training.api import seconds_spent, train

    cands, bonus, seconds_recommend = state["candidates"], state["bonus"], state["seconds_recommend"]
    hold = holds(cands, state.get("incumbent"), state.get("hold", 0.0))  # (an older auto.json: none)
    plan = [(r["epoch"], r["candidates"]) for r in state["rungs"]]
    hours = float(common.get("time") or 0.0)
    data, device = common["data"], common.get("device")
    epochs = plan[-1][0]  # the plan's length: the run's epochs, or NOMINAL for a timed run (rungs as shares)
    alive = list(state["alive"])
    results: dict[str, Any] = {}
    where = (f"rungs at {', '.join(f'{s / epochs:.0%}' for s, _ in plan[:-1])} of each candidate's epochs in "
             f"the {hours * 60:g} min budget (~{common['epochs']}+)" if hours else f"rungs at epochs {', '.join(str(s) for s, _ in plan)}")
    rec = state.get("recommendation") or {}
    if state["rung"] > 1 or any(probes[c].run_dir for c in alive):
        say(f"auto: going on at rung {state['rung']} of {len(plan)} with {', '.join(alive)}")
    elif len(plan) == 1:  # deferred to recommend (`rungs` always plans at least two)
        say(f"auto: recommend's {state['recommend_rule']} rule says {cands[0]}; training it without probes (short "
            f"probes favour the frozen backbone where a data rule says to train the backbone; name candidates, "
            f"auto:a,b,c, to probe)")
    else:
        say(f"auto: {len(cands)} candidates {', '.join(cands)}; {where} ({epoch_cost(plan) / epochs:.2f}x one run)"
            + (f"; recommend: {rec['preset']}" if rec else ""))
    for rung, (stop, keep) in enumerate(plan, 1):
        if rung < state["rung"]:  # done before an interruption
            continue
        final = stop >= epochs
        # timed: the same share of the budget for every candidate, in its own refitted epochs
        if final:  # the final rung runs the schedule to its end (a timed one: to the refitted end)
            stop_at = lambda t: t.epochs  # noqa: E731
        else:
            stop_at = None if hours else (lambda t, s=stop: s)
        for c in alive:
            p = probes[c]
            if p.rung_reached >= rung and not final:  # reached this rung before an interruption
                _read_probe(p)  # its curve as the rung left it (the state may have been saved just before)
                continue
            folder = auto_dir / _safe(c)
            if not p.run_dir and (folder / "weights" / "last.pt").is_file():  # killed before auto.json knew it
                p.run_dir = str(folder)
            if p.run_dir and not (Path(p.run_dir) / "weights" / "last.pt").is_file():
                p.run_dir = ""  # stopped inside its first epoch: nothing to resume, so it starts again (a new folder)
            if p.run_dir:  # a session killed outright never added its seconds here: at least what its run cost
                p.wall_seconds = max(p.wall_seconds, seconds_spent(Path(p.run_dir)))
            t_call = time.time()
            # timed: the share holds the probe's set-ups and its part of the recommend step too
            stop_fn = stop_at or _timed_stop(stop / epochs, rung, p.wall_seconds, t_call, seconds_recommend / len(cands))
            cb = {**(callbacks or {}),
                  # auto.json learns the probe's folder as soon as it exists and its rung before it stops, so a kill
                  # at any point resumes the right folder and never trains a probe past its rung
                  "on_pretrain_routine_end": _then(_note_folder(p, save), (callbacks or {}).get("on_pretrain_routine_end")),
                  "on_fit_epoch_end": _stopper(stop_fn, (callbacks or {}).get("on_fit_epoch_end"),
                                               on_stop=_note_rung(p, rung, save))}
            try:
                if not p.run_dir:
                    r = train(preset=c, project=auto_dir, name=_safe(c), callbacks=cb, **common)
                else:
                    r = train(data, resume=p.run_dir, device=device, callbacks=cb)
                results[c] = r
                p.run_dir = str(r.run_dir)
                p.error = r.error
            except ProbeStop as e:
                p.run_dir = str(e.run_dir)
                p.epochs_planned = e.epochs
            except KeyboardInterrupt as e:  # Ctrl-C in this probe: what it had done goes on auto's record
                p.run_dir = str(getattr(e, "run_dir", None) or p.run_dir or "")
                p.wall_seconds = round(p.wall_seconds + time.time() - t_call, 2)
                if p.run_dir:
                    _read_probe(p)
                raise
            p.wall_seconds = round(p.wall_seconds + time.time() - t_call, 2)
            _read_probe(p)
            p.epochs_planned = p.epochs_planned or epochs
            p.rung_reached = rung
            save("running")
        live = [c for c in alive if probes[c].error is None and probes[c].curve]
        if not live:  # a crash in training, not bad input: exit 1, the tracebacks in the probes' error.txt
            raise TrainingFailed(f"every auto candidate failed; see {auto_dir} ({probes[alive[0]].error})")
        for c in alive:
            probes[c].scores.append({"rung": rung, **score(probes[c].curve, probes[c].epochs_planned or epochs,
                                                            bonus[c], hold=hold[c])})
        if final:
            break
        ranked = rank({c: probes[c].curve for c in live}, {c: probes[c].epochs_planned for c in live}, bonus,
                      hold=hold)
        next_keep = plan[rung][1]
        for c in alive:
            if c not in ranked[:next_keep]:
                probes[c].dropped_at_rung = rung
        alive = ranked[:next_keep]
        state.update(rung=rung + 1, alive=alive)
        save("running")
        say(f"auto: rung {rung} (epoch {stop}): " + ", ".join(
            f"{c} {probes[c].scores[-1]['map']:.4f}->{probes[c].scores[-1]['score']:.4f}" for c in ranked)
            + f"; continuing {', '.join(alive)}")
    chosen = alive[0]
    result = results.get(chosen)
    if result is None:  # cannot happen: the final rung runs to the end and returns
        raise UserError(f"auto: the chosen preset {chosen} did not finish; see {auto_dir}")
    return chosen, result


def _timed_stop(fraction: float, rung: int, wall_before: float, t_call: float, extra: float = 0.0):
    """Rung stop for a time-bounded probe, from the run's own clock (see `timed_rung_epochs`). `wall_before`: the
    probe's earlier train() calls, whole; `t_call`: when this one began; `extra`: seconds of auto's own the probe's
    share also pays for (its part of the recommend step)."""
    def stop_at(trainer) -> int:
        now = time.time()
        loop = now - trainer.train_time_start  # the whole run's loop once `timed.continue_clock` has moved it back
        # the epochs the clock covers, as Ultralytics' own refit counts them (a resumed session's clock covers the
        # whole run once `timed.continue_clock` has set start_epoch to 0; otherwise only this session)
        timed_epochs = trainer.epoch - trainer.start_epoch + 1
        overhead = max(0.0, wall_before + (now - t_call) - loop) + extra
        return timed_rung_epochs(fraction, rung, trainer.args.time, loop, timed_epochs, overhead)
    return stop_at


def timed_rung_epochs(fraction: float, rung: int, hours: float, spent: float, done: int, overhead: float = 0.0) -> int:
    """Epochs a time-bounded probe runs to reach its rung: the most whole epochs that fit in `fraction` of the budget
    after `overhead` (its set-ups and resumes outside the training loop, its part of the recommend step), at the
    run's mean epoch time so far; at least `rung` (every rung adds one).

    Rounded down, not to the nearest: a dropped probe then never costs more than its share, so auto stays within
    1.5x the budget (rounding to nearest of Ultralytics' refitted count, itself a ceil, cost 1.51-1.53x a run on 3 of
    4 sets of the equal-wall-time evaluation, 2026-11-23). The overhead counts because a user pays it: with the loop
    alone in the share, auto still cost up to 1.505x the chosen preset's plain run (BCCD 10 %, 3 min: the dropped
    probes' loops fitted their 30 s and 60 s, their set-ups came on top)."""
    mean = spent / max(done, 1)
    return max(rung, math.floor((fraction * hours * 3600 - overhead) / mean + 1e-9)) if mean > 0 else rung


def _stopper(stop_at, user_cb=None, on_stop=None):
    """Stop a probe after `stop_at(trainer)` epochs, read after Ultralytics' own end-of-epoch work (a time-bounded
    run has refitted `trainer.epochs` and its clock by then). The last epoch of the schedule is never cut.
    `on_stop(trainer)` runs first (auto's state learns the rung is reached while last.pt is at it)."""
    def on_fit_epoch_end(trainer):
        if user_cb is not None:
            user_cb(trainer)
        done = trainer.epoch + 1
        if done >= stop_at(trainer) and done < trainer.epochs and not trainer.stop:
            if on_stop is not None:
                on_stop(trainer)
            e = ProbeStop(f"probe stopped after epoch {done}")
            e.epochs = trainer.epochs
            raise e
    return on_fit_epoch_end


def _note_folder(p: Probe, save):
    def on_pretrain_routine_end(trainer):
        if p.run_dir != str(trainer.save_dir):
            p.run_dir = str(trainer.save_dir)
            save("running")
    return on_pretrain_routine_end


def _note_rung(p: Probe, rung: int, save):
    def on_stop(trainer):
        p.run_dir, p.rung_reached, p.epochs_planned = str(trainer.save_dir), rung, trainer.epochs
        save("running")
    return on_stop


def _then(first, second=None):
    """One callback that runs `first`, then the user's own for the same event."""
    if second is None:
        return first
    return lambda trainer: (first(trainer), second(trainer))


def _read_probe(p: Probe) -> None:
    from yolo_transfer.training.api import _read_csv
    from yolo_transfer.training.record import TransferRecord

    rec = TransferRecord.read(Path(p.run_dir))
    hist = rec.history or []
    rows = _read_csv(Path(p.run_dir))
    if len(rows) > len(hist):  # killed before its record was written: results.csv has the epochs it ran
        hist = rows
    p.curve = [round(float(r.get(MAP, 0.0)), 5) for r in hist]
    p.curve50 = [round(float(r.get("metrics/mAP50(B)", 0.0)), 5) for r in hist]
    p.epoch_seconds = [float(r.get("epoch_seconds", 0.0)) for r in hist]
    p.epochs_run = len(hist)
    p.seconds = float(rec.train_seconds or 0.0)
    if rec.error:
        p.error = rec.error


def _safe(preset: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in preset)


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    i = 2
    while path.with_name(f"{path.name}-{i}").exists():
        i += 1
    return path.with_name(f"{path.name}-{i}")


def _plot(summary: dict, out: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    for p in summary["probes"]:
        if p["curve"]:
            style = "-" if p["preset"] == summary["chosen"] else "--"
            ax.plot(range(1, len(p["curve"]) + 1), p["curve"], style, marker="o", ms=3, label=p["preset"])
    for r in summary["rungs"][:-1]:
        ax.axvline(r["epoch"], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mAP50-95")
    ax.set_title(f"auto: probes and the chosen run ({summary['chosen']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())


def render_markdown(s: dict) -> str:
    if s.get("budget_minutes"):
        plan = (f"- {len(s['candidates'])} candidates, {s['budget_minutes']:g} min per run (Ultralytics' time mode, "
                f"epochs refitted per candidate), rungs at "
                f"{', '.join(format(r['epoch'] / s['rungs'][-1]['epoch'], '.0%') for r in s['rungs'][:-1])} of each "
                f"candidate's epochs ({s['epoch_cost'] / s['rungs'][-1]['epoch']:.2f}x one run's budget)")
    else:
        plan = (f"- {len(s['candidates'])} candidates, {s['epochs']} epochs, rungs at "
                f"{', '.join(str(r['epoch']) for r in s['rungs'])} ({s['epoch_cost']} epochs in all, "
                f"{s['epoch_cost'] / s['epochs']:.2f}x one run)")
    if s.get("deferred_to_recommend"):
        rec = s["recommendation"] or {}
        plan = (f"- no probes: {(rec.get('reasons') or ['recommend'])[0]}; where a data rule says to train the backbone, "
                f"short probes favour the frozen backbone, so `auto` trains recommend's preset as a plain run "
                f"(`auto:a,b,c` probes anyway)")
    if s.get("scheduler"):
        a = s["scheduler"]
        plan = (f"- {len(s['candidates'])} candidates in parallel on Ray Tune ({a['resources_per_probe']} each), "
                f"stopped by {a['name']} (grace {a['grace_period']} epochs, reduction {a['reduction_factor']}, "
                f"{a['max_t']} epochs); {s['epoch_cost']} epochs ran in all ({s['epoch_cost'] / s['epochs']:.2f}x "
                f"one run)")
    lines = [f"# Automatic strategy choice: `{s['chosen']}`", "", plan,
             f"- time: {s['seconds_total']:.0f} s in all, the chosen run alone {s['seconds_chosen_run']:.0f} s "
             f"(ratio {s['cost_ratio']})",
             ("- domain distance " + (f"{s['domain_distance']:.3f}" if s["domain_distance"] is not None else
                                      "not measured (recommend runs for a .pt checkpoint)")) + (
                 f"; recommend said `{s['recommendation']['preset']}`" if s["recommendation"] else ""),
             f"- rule: {s['rule']}", "",
             "| preset | epochs run | last mAP50-95 | scores per rung | seconds (set-ups included) | outcome |", "|---|---|---|---|---|---|"]
    for p in s["probes"]:
        outcome = "chosen" if p["preset"] == s["chosen"] else (
            f"dropped at rung {p['dropped_at_rung']}" if p["dropped_at_rung"] else (p["error"] or ""))
        scores = ", ".join(f"{x['score']:.4f}" for x in p["scores"])
        last = f"{p['curve'][-1]:.4f}" if p["curve"] else "-"
        lines.append(f"| `{p['preset']}` | {p['epochs_run']} | {last} | {scores} | {p.get('wall_seconds') or p['seconds']:.0f} | {outcome} |")
    lines += ["", "![probe curves](auto.png)", "", f"Chosen run: `{s['chosen_run']}`", ""]
    return "\n".join(lines)
