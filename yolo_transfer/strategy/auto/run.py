"""Orchestration of `--preset auto`: plan the rungs, run (or resume) the probes, choose, report.

`auto_train` measures (recommend) and plans (`policy.rungs`); `_run` runs the plan, for `resume_auto` too with the
plan an interrupted run left in `auto.json`. The winner's `TrainResult` comes back with `.auto` and `.auto_dir`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from yolo_transfer.errors import Interrupted, TrainingFailed, UserError
from yolo_transfer.options import ENGINES, KEEP_FIELDS, TrainOptions
from yolo_transfer.presets import parse_preset
from yolo_transfer.strategy.auto import policy
from yolo_transfer.strategy.auto.probes import ProbeStop, note_folder, note_rung, read_probe, stopper, then, timed_stop
from yolo_transfer.strategy.auto.report import summary_lines, write_report
from yolo_transfer.strategy.auto.state import AutoState, Probe, folder_name, settings_record
from yolo_transfer.utils.console import say

__all__ = ["auto_train", "resume_auto", "summary_lines"]


# the options each probe takes from `train` as they are; the rest auto sets per probe, or uses itself
_OWN = ("preset", "epochs", "project", "name", "presets_file", "callbacks", "device", "imgsz", "engine", "ray_address",
        "budget_minutes", "resume", "wait")


def auto_train(model: str | os.PathLike, data: str | os.PathLike, opts: TrainOptions, overrides: dict,
               recommend_images: int = 32):
    """Successive halving over the candidates in `opts.preset` (`auto` or `auto:a,b,c`); returns the winner's
    `TrainResult` with `.auto` (its `AutoState`) and `.auto_dir`. Every probe is a `train_preset` run with the
    rest of `opts` (batch, seed, BN policy, keep-classes) and `overrides` (Ultralytics' arguments, `time=` hours)."""
    from ultralytics.utils.files import increment_path

    from yolo_transfer.utils.lock import folder_lock

    t_start = time.time()
    hours = float(overrides.get("time") or 0.0)
    if hours < 0:
        raise UserError(f"time= must be > 0 hours, got {hours}")
    if not hours and opts.epochs < policy.MIN_EPOCHS:
        raise UserError(f"--preset auto needs --epochs >= {policy.MIN_EPOCHS} (probes run 1/6 and 1/3 of them), got "
                        f"{opts.epochs}")
    cands = policy.parse_candidates(opts.preset, opts.presets_file)
    if opts.engine not in ENGINES:
        raise UserError(f"--engine {opts.engine}: choose one of {', '.join(ENGINES)}")
    if opts.engine == "ray" and hours:
        raise UserError("--preset auto --engine ray runs ASHA over epochs: give --epochs, not a time budget")
    probe = {**{k: v for k, v in opts.to_dict().items() if k not in _OWN and k not in KEEP_FIELDS},
             **opts.changed(*KEEP_FIELDS), **overrides}
    resolved, anatomy, spec = _source(model, data, cands, opts)
    rec, seconds_recommend = _recommend(resolved, data, hours, opts, recommend_images, probe.get("batch", 16))
    if rec is not None:
        cands = policy.order_candidates(cands, rec.preset)
    epochs, estimate = opts.epochs, None
    if hours:  # equal wall time: `epochs` is Ultralytics' first guess only (as in compare); refused if < MIN_TIMED
        epochs, estimate = _timed_epochs(resolved, spec, cands, hours, rec, opts, probe)
    deferred = policy.defers(rec.rule if rec else None, explicit=bool(parse_preset(opts.preset).candidates))
    if deferred:
        cands = [rec.preset]
    distance = rec.facts.get("domain_distance") if rec else None
    bonus_far = policy.bonus_for(distance)
    bonus = {c: (bonus_far if policy.trains_backbone(c, anatomy, epochs, opts.presets_file) else 0.0) for c in cands}

    auto_dir = increment_path(Path(opts.project) / opts.name, sep="-")  # a new folder: name, name-2, ...
    # timed: the rungs are shares of each candidate's refitted schedule, not of the first guess (a lower bound)
    length = policy.NOMINAL if hours else epochs
    plan = [(length, 1)] if deferred else policy.rungs(length, len(cands))
    settings = dict(model=resolved, data=data, epochs=epochs, imgsz=opts.imgsz, device=opts.device,
                    presets_file=opts.presets_file, **probe)
    state = AutoState(
        epochs=epochs, budget_minutes=round(hours * 60, 3) if hours else None, engine=opts.engine,
        rungs=[{"epoch": s, "candidates": k} for s, k in plan], epoch_cost=policy.epoch_cost(plan), candidates=cands,
        rule=policy.DEFER_RULE if deferred else policy.RULE, deferred_to_recommend=deferred,
        domain_distance=distance, recommendation=rec.to_dict() if rec else None,
        recommend_rule=rec.rule if rec else None, bonus=bonus,
        incumbent=rec.preset if rec and rec.preset in cands else None, hold=policy.HOLD,
        settings=settings_record(settings), alive=list(cands), probes=[Probe(c) for c in cands],
        seconds_recommend=seconds_recommend, budget_estimate=estimate.to_dict() if estimate else None,
    )
    with folder_lock(auto_dir, "train --preset auto", other="pick another --name"):  # auto.json has one writer
        return _run(state, auto_dir, opts.callbacks, t_start, opts.ray_address, settings)


def _source(model, data, cands: list[str], opts: TrainOptions):
    """The checkpoint, its anatomy and the dataset, with every candidate's plan checked before any training."""
    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.presets import make_plan
    from yolo_transfer.weights import resolve_model

    spec = check_data_yaml(data)
    resolved = resolve_model(model)
    anatomy = Anatomy.of(load_detection_model(resolved).model)
    for c in cands:  # bad preset arguments fail here, before any training
        make_plan(c, anatomy, epochs=opts.epochs, presets_file=opts.presets_file)
    return resolved, anatomy, spec


def _recommend(resolved: str, data, hours: float, opts: TrainOptions, images: int, batch: int):
    """`recommend`'s answer for a checkpoint (an architecture YAML has no COCO knowledge to judge), and its cost."""
    if not resolved.endswith(".pt"):
        return None, 0.0
    from yolo_transfer.strategy.recommend import recommend

    dev = "cpu" if opts.device in (None, "", "cpu") else str(opts.device).split(",")[0]
    t_rec = time.time()
    rec = recommend(resolved, data, budget_minutes=hours * 60 if hours else None, device=dev, images=images,
                    imgsz=opts.imgsz, batch=batch)
    return rec, round(time.time() - t_rec, 2)


def _timed_epochs(resolved: str, spec, cands: list[str], hours: float, rec, opts: TrainOptions, probe: dict):
    """A timed auto's first-guess epochs and its budget estimate; a budget too small for the rungs is refused."""
    from yolo_transfer.training.budget import BudgetEstimate, estimate_budget, first_guess

    known = (rec.facts.get("budget") or {}) if rec else {}
    if known and set(cands) <= set(known.get("epochs", {})):  # recommend timed them already: the same estimate
        estimate = BudgetEstimate(**known)
    else:
        estimate = estimate_budget(resolved, spec.yaml_path, cands, hours * 60, imgsz=opts.imgsz,
                                   batch=probe.get("batch", 16), device=opts.device, presets_file=opts.presets_file,
                                   overrides={k: v for k, v in probe.items() if k not in ("batch", "seed")})
    fits = {c: estimate.epochs[c] for c in cands}
    cheapest = max(fits, key=fits.get)
    if fits[cheapest] < policy.MIN_TIMED:  # the rungs need a whole epoch each of the cheapest candidate, and an end
        raise UserError(f"--preset auto: the budget of {hours * 60:g} min fits only ~{fits[cheapest]:g} epochs of "
                        f"the cheapest candidate ({cheapest}) here; auto needs >= {policy.MIN_TIMED} (its probes "
                        f"take 1/6 and 1/3 of the budget): raise the budget or lower --imgsz")
    return first_guess(estimate, min(fits, key=fits.get)), estimate


def resume_auto(auto_dir: str | os.PathLike, callbacks: Mapping[str, Callable] | None = None,
                device: str | None = None):
    """Go on with an auto run that was interrupted or killed: the rungs done stand, the probe that was running
    resumes from its last epoch, and the rest runs as it would have."""
    auto_dir = Path(auto_dir)
    state = AutoState.read(auto_dir)
    if state.status == "complete":
        raise UserError(f"--resume {auto_dir}: this auto run is complete: it chose {state.chosen} "
                        f"({state.chosen_run})")
    if not state.candidates:
        raise UserError(f"--resume {auto_dir}: its auto.json predates resumable auto runs; resume a probe's folder "
                        f"as a plain run instead")
    if state.settings is None:
        raise UserError(f"--resume {auto_dir}: it was started with an option that cannot be saved to auto.json (a "
                        f"Python object); resume a probe's folder as a plain run instead")
    if not state.resumable:
        raise UserError(f"--resume {auto_dir}: an --engine ray auto run does not resume (ASHA's trials are gone); "
                        f"resume the best probe's folder as a plain run")
    if device is not None:
        state.settings["device"] = device
    return _run(state, auto_dir, callbacks, time.time(), None)


def _run(state: AutoState, auto_dir: Path, callbacks, t_start: float, ray_address, settings: dict | None = None):
    """Run (or go on with) the plan in `state`, writing auto.json after every probe; returns the winner's result.
    `settings`: the probes' train_preset() arguments as given (a first run); a resume has only those in `state`."""
    settings = settings if settings is not None else state.settings
    seconds_before = state.seconds_total

    def save(status: str) -> None:
        state.status = status
        state.seconds_total = round(seconds_before + time.time() - t_start, 2)
        run_s = state.seconds_chosen_run
        state.cost_ratio = round(state.seconds_total / run_s, 3) if run_s else None
        state.write(auto_dir)

    save("running")
    try:
        if state.engine == "ray" and not state.deferred_to_recommend:  # deferred: a one-rung plan, here
            from yolo_transfer.strategy.auto.asha import run_asha

            chosen, result, plan, scheduler = run_asha(state, settings, auto_dir, ray_address)
            # ASHA's stops depend on arrival order: count what ran
            state.rungs = [{"epoch": s, "candidates": k} for s, k in plan]
            state.scheduler = scheduler
            state.epoch_cost = sum(p.epochs_run for p in state.probes)
        else:
            chosen, result = _halving(state, auto_dir, callbacks, save, settings)
    except (KeyboardInterrupt, TrainingFailed) as e:
        # no choice yet, but the probes so far are what the user paid for: on record, and the CLI says how to go on
        save("interrupted" if isinstance(e, KeyboardInterrupt) else "failed")
        if isinstance(e, KeyboardInterrupt):  # resumable from auto's own folder: the CLI says how
            raise Interrupted.at(e, auto_dir=auto_dir if state.resumable else None)
        raise
    state.chosen, state.chosen_run, state.metrics = chosen, str(result.run_dir), dict(result.metrics)
    state.seconds_training = round(sum(p.seconds for p in state.probes), 2)
    state.seconds_chosen_run = result.seconds
    save("complete")
    write_report(state, auto_dir)
    print(f"auto: chose {chosen} (mAP50-95 {result.metrics.get(policy.MAP, float('nan')):.4f}); "
          f"{state.seconds_total:.0f} s in all, {state.cost_ratio}x the chosen run's {result.seconds:.0f} s; report "
          f"{auto_dir / 'auto.md'}", flush=True)
    result.auto, result.auto_dir = state, auto_dir
    return result


def _announce(state: AutoState, plan: list[tuple[int, int]], alive: list[str], common: dict) -> None:
    hours = float(common.get("time") or 0.0)
    epochs = plan[-1][0]
    cands = state.candidates
    if state.rung > 1 or any(state.probe(c).run_dir for c in alive):
        say(f"auto: going on at rung {state.rung} of {len(plan)} with {', '.join(alive)}")
    elif len(plan) == 1:  # deferred to recommend (`rungs` always plans at least two)
        say(f"auto: recommend's {state.recommend_rule} rule says {cands[0]}; training it without probes (short "
            f"probes favour the frozen backbone where a data rule says to train the backbone; name candidates, "
            f"auto:a,b,c, to probe)")
    else:
        where = (f"rungs at {', '.join(f'{s / epochs:.0%}' for s, _ in plan[:-1])} of each candidate's epochs in "
                 f"the {hours * 60:g} min budget (~{common['epochs']}+)" if hours
                 else f"rungs at epochs {', '.join(str(s) for s, _ in plan)}")
        rec = state.recommendation or {}
        say(f"auto: {len(cands)} candidates {', '.join(cands)}; {where} "
            f"({policy.epoch_cost(plan) / epochs:.2f}x one run)" + (f"; recommend: {rec['preset']}" if rec else ""))


def _halving(state: AutoState, auto_dir: Path, callbacks, save, common: dict):
    """Successive halving in this process: each rung runs (or resumes) the live candidates one after another, from
    the rung `state` says is in progress; `save(status)` after every probe."""
    cands, bonus = state.candidates, state.bonus
    hold = policy.holds(cands, state.incumbent, state.hold)
    plan = state.plan
    hours = float(common.get("time") or 0.0)
    epochs = plan[-1][0]  # the plan's length: the run's epochs, or NOMINAL for a timed run (rungs as shares)
    alive = list(state.alive)
    results: dict[str, Any] = {}
    _announce(state, plan, alive, common)
    for rung, (stop, _keep) in enumerate(plan, 1):
        if rung < state.rung:  # done before an interruption
            continue
        final = stop >= epochs
        # timed: the same share of the budget for every candidate, in its own refitted epochs
        if final:  # the final rung runs the schedule to its end (a timed one: to the refitted end)
            stop_at = lambda t: t.epochs  # noqa: E731
        else:
            stop_at = None if hours else (lambda t, s=stop: s)
        for c in alive:
            p = state.probe(c)
            if p.rung_reached >= rung and not final:  # reached this rung before an interruption
                read_probe(p)  # its curve as the rung left it (the state may have been saved just before)
                continue
            r = _probe(state, c, rung, stop_at, stop / epochs, epochs, auto_dir, callbacks, save, common)
            if r is not None:
                results[c] = r
        live = [c for c in alive if state.probe(c).error is None and state.probe(c).curve]
        if not live:  # a crash in training, not bad input: exit 1, the tracebacks in the probes' error.txt
            raise TrainingFailed(f"every auto candidate failed; see {auto_dir} ({state.probe(alive[0]).error})")
        for c in alive:
            p = state.probe(c)
            p.scores.append({"rung": rung, **policy.score(p.curve, p.epochs_planned or epochs, bonus[c], hold=hold[c])})
        if final:
            break
        ranked = policy.rank({c: state.probe(c).curve for c in live},
                             {c: state.probe(c).epochs_planned for c in live}, bonus, hold=hold)
        next_keep = plan[rung][1]
        for c in alive:
            if c not in ranked[:next_keep]:
                state.probe(c).dropped_at_rung = rung
        alive = ranked[:next_keep]
        state.rung, state.alive = rung + 1, alive
        save("running")
        say(f"auto: rung {rung} (epoch {stop}): " + ", ".join(
            f"{c} {state.probe(c).scores[-1]['map']:.4f}->{state.probe(c).scores[-1]['score']:.4f}" for c in ranked)
            + f"; continuing {', '.join(alive)}")
    return alive[0], results[alive[0]]  # the final rung's one candidate ran to its end (or raised above)


def _probe(state: AutoState, c: str, rung: int, stop_at, share: float, epochs: int, auto_dir: Path, callbacks,
           save, common: dict):
    """Run (or resume) candidate `c` up to this rung: its `TrainResult` when it ran to its end, None when it stopped
    at the rung; auto.json knows its folder and rung at every moment, so a kill anywhere resumes the right one."""
    from yolo_transfer.sweep import trial
    from yolo_transfer.training.api import seconds_spent

    p = state.probe(c)
    run = Path(p.run_dir) if p.run_dir else auto_dir / folder_name(c)  # no run_dir yet: killed before auto.json knew
    if not trial.resumable(run):  # stopped inside its first epoch: nothing to resume, it starts again in its folder
        run = auto_dir / folder_name(c)
    else:  # a session killed outright never added its seconds here: at least what its run cost
        p.wall_seconds = max(p.wall_seconds, seconds_spent(run))
    t_call = time.time()
    # timed: the share holds the probe's set-ups and its part of the recommend step too
    stop_fn = stop_at or timed_stop(share, rung, p.wall_seconds, t_call,
                                    state.seconds_recommend / len(state.candidates))
    user = callbacks or {}
    cb = {**user,
          "on_pretrain_routine_end": then(note_folder(p, save), user.get("on_pretrain_routine_end")),
          "on_fit_epoch_end": stopper(stop_fn, user.get("on_fit_epoch_end"), on_stop=note_rung(p, rung, save))}
    r = None
    try:
        r = trial.run(run, {"preset": c, **common}, {"device": common.get("device")}, cb)
        p.run_dir = str(r.run_dir)
        p.error = r.error
    except ProbeStop as e:
        p.run_dir = str(e.run_dir)
        p.epochs_planned = e.epochs
    except KeyboardInterrupt as e:  # Ctrl-C in this probe: what it had done goes on auto's record
        p.run_dir = str(Interrupted.at(e).run_dir or p.run_dir or "")
        p.wall_seconds = round(p.wall_seconds + time.time() - t_call, 2)
        if p.run_dir:
            read_probe(p)
        raise
    p.wall_seconds = round(p.wall_seconds + time.time() - t_call, 2)
    read_probe(p)
    p.epochs_planned = p.epochs_planned or epochs
    p.rung_reached = rung
    save("running")
    return r
