"""The rule `--preset auto` chooses by: successive halving over candidate presets, and what a probe's score is.

Every candidate starts as an ordinary run with the full run's settings (the same epochs, so the same learning-rate
schedule) and is stopped after its rung; survivors resume, so the winner's run is the plain run of that preset.
Rungs at E/6 and E/3 of E epochs cost 1.5 E for 3 candidates (1.33 E for 2); under a wall-clock budget they are
shares of each candidate's own refitted epochs (`timed_rung_epochs`).

A probe's score is its mAP50-95 at the rung (`score`), plus:
- BONUS x the domain's place between `rules.NEAR` and `rules.FAR` for a candidate that trains the backbone, because
  short probes favour freezing (a frozen backbone learns fast early; full fine-tuning overtakes later);
- HOLD x its mAP for recommend's preset, which stays in unless clearly beaten (one standard deviation of the noise
  on a difference between two probes, measured before it was set);
- no extrapolation of the curve (EXTRAPOLATE = 0): on 3-8 epoch probes the val curves' noise swamped the mAP.

Where recommend's answer comes from a data rule that trains the backbone (DEFER_RULES) and the user named no
candidates, auto trains that preset without probes (`defers`): there the probes were wrong each time they were
measured. Evidence for every number here: docs/evidence/strategy.md.
"""

from __future__ import annotations

import math

from yolo_transfer.errors import UserError

DEFAULT_CANDIDATES = ("frozen-backbone", "full", "progressive")
MIN_EPOCHS = 6
MIN_TIMED = 3  # epochs a budget must fit (first guess) for a timed auto: one each for two rungs and the end
NOMINAL = 12  # a timed auto's rungs are shares of this: 1/6, 1/3 of each candidate's own refitted epochs
EXTRAPOLATE = 0.0  # share of the recent slope assumed to continue; off: on short noisy probes it chose wrong
BONUS = 0.02  # mAP50-95 handicap removed from backbone-training candidates on a far domain
HOLD = 0.1  # recommend's preset stays unless another leads it by more than this share of its mAP at the rung
from yolo_transfer.options import METRIC as MAP  # noqa: E402 - the one metric key
# recommend's data rules that train the backbone: there `auto` trains recommend's preset without probing
DEFER_RULES = ("far-domain", "large-data", "mid-domain")
DEFER_RULE = ("recommend's preset, without probes: its answer came from a data rule that trains the backbone, where "
              "short probes favour the frozen backbone (measured: cavity 8 min, BCCD 85:15 5 min)")
RULE = ("successive halving, rungs at E/6 and E/3: keep the top half by score = mAP50-95 at the rung "
        + (f"+ {EXTRAPOLATE} x max(0, slope over the last 2 epochs) x epochs left " if EXTRAPOLATE else "")
        + f"+ {BONUS} x clip((domain_distance - NEAR) / (FAR - NEAR), 0, 1) if the candidate trains the backbone "
        f"+ {HOLD} x its mAP50-95 for recommend's preset (kept unless clearly beaten); "
        "ties go to the earlier candidate (the recommended preset first)")


def parse_candidates(spec: str, presets_file=None) -> list[str]:
    """`auto` or `auto:a,b,c` -> candidate preset specs; unknown names fail in one line."""
    from yolo_transfer.presets import available, parse_preset

    parsed = parse_preset(spec)
    if not parsed.auto:
        raise UserError(f"not an auto preset: {spec}")
    cands = list(parsed.candidates or DEFAULT_CANDIDATES)
    known = available(presets_file)
    for c in cands:
        if parse_preset(c).name not in known:
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
    """The far-domain bonus: none on COCO-like images (at or below `rules.NEAR`), rising to BONUS at `rules.FAR`
    (from NEAR, not 0: where mAPs are small, a bonus below NEAR chose full fine-tuning over a frozen backbone with
    twice its final mAP on coco128; docs/evidence/strategy.md)."""
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


def timed_rung_epochs(fraction: float, rung: int, hours: float, spent: float, done: int, overhead: float = 0.0) -> int:
    """Epochs a time-bounded probe runs to reach its rung: the most whole epochs that fit in `fraction` of the budget
    after `overhead` (its set-ups and resumes outside the training loop, its part of the recommend step), at the
    run's mean epoch time so far; at least `rung` (every rung adds one).

    Rounded down and with the overhead counted, so a dropped probe never costs more than its share and auto stays
    within 1.5x the budget (rounding to nearest, or the loop alone, cost up to 1.53x: docs/evidence/strategy.md)."""
    mean = spent / max(done, 1)
    return max(rung, math.floor((fraction * hours * 3600 - overhead) / mean + 1e-9)) if mean > 0 else rung
