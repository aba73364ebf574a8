"""`train(preset="auto", engine="ray")`: the auto probes in parallel on Ray Tune, stopped by its ASHA scheduler.

Every candidate is one Tune trial running the ordinary `train_preset()` (`sweep.trial`, the full run's schedule) and
reporting after every epoch the score the local halving ranks by (`policy.score`). ASHA stops the trials below the
top 1/REDUCTION of the scores at rungs of `grace x REDUCTION^k` epochs; of those it never stops, the best at its last
epoch is the choice: a run that went through from epoch 1, as a plain run would have. A time budget is refused
(ASHA's rungs are epochs). The executor, and what a cluster needs: `sweep.ray`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from yolo_transfer.errors import UserError
from yolo_transfer.utils.console import say

REDUCTION = 2  # ASHA keeps the top half at each rung, as the local halving does


def _probe(config: dict) -> None:
    from ray import tune

    from yolo_transfer.strategy.auto.policy import MAP, score
    from yolo_transfer.sweep import trial
    from yolo_transfer.sweep.ray import worker_device
    from yolo_transfer.utils.console import ultralytics_logs_off

    curve: list[float] = []

    def report(trainer) -> None:  # after Ultralytics saved last.pt: a stop here leaves a resumable run
        curve.append(float(trainer.metrics.get(MAP, 0.0)))
        if trainer.epoch + 1 >= trainer.epochs:
            # no report for the last epoch: Tune ends a trial that reaches max_t at that report, before train()
            # has run the final validation and verified the frozen tensors; the trial ends when train() returns
            return
        s = score(curve, trainer.epochs, config["bonus"][config["preset"]], hold=config["hold"].get(config["preset"], 0.0))
        tune.report({"score": s["score"], "map": curve[-1], "epoch": trainer.epoch + 1})

    def own_reports_only(trainer) -> None:
        # Ultralytics' Ray Tune integration reports its metrics every epoch too; a second report per epoch would
        # count as another ASHA step and lack the score ASHA ranks by
        cbs = trainer.callbacks["on_fit_epoch_end"]
        cbs[:] = [cb for cb in cbs if getattr(cb, "__module__", "") != "ultralytics.utils.callbacks.raytune"]

    kwargs = {**config["common"], "device": worker_device(config)}
    with ultralytics_logs_off(True):
        r = trial.run(Path(config["auto_dir"]) / config["names"][config["preset"]],
                      {"preset": config["preset"], **kwargs},
                      callbacks={"on_train_start": own_reports_only, "on_fit_epoch_end": report})
    if r.error:
        raise RuntimeError(r.error)


def run_asha(state, common: dict[str, Any], auto_dir: Path, address: str | None = None):
    """Run the candidates of `state` (an `AutoState`) as Tune trials under ASHA; returns (chosen, its TrainResult,
    rungs, scheduler info). The probes in `state` learn their folders, curves and scores."""
    from yolo_transfer.sweep.ray import require_tune, run_trials

    _, tune = require_tune()
    from ray.tune.schedulers import AsyncHyperBandScheduler

    from yolo_transfer.strategy.auto.policy import holds, score
    from yolo_transfer.strategy.auto.probes import read_probe
    from yolo_transfer.strategy.auto.state import folder_name as _safe
    from yolo_transfer.training.api import epoch_history, result_of
    from yolo_transfer.training.record import TransferRecord

    cands, epochs, bonus = state.candidates, state.epochs, state.bonus
    hold = holds(cands, state.incumbent, state.hold)
    grace = max(1, round(epochs / 6))
    plan = asha_rungs(epochs, grace, len(cands))
    scheduler = AsyncHyperBandScheduler(time_attr="training_iteration", max_t=epochs, grace_period=grace,
                                        reduction_factor=REDUCTION)
    space = {"preset": tune.grid_search(cands), "common": common, "auto_dir": str(auto_dir.resolve()),
             "bonus": bonus, "hold": hold, "names": {c: _safe(c) for c in cands}}
    announce = lambda per, cpus, gpus: say(  # noqa: E731
        f"auto (ray): {len(cands)} candidates {', '.join(cands)} in parallel on {cpus} CPU(s), {gpus} GPU(s), each "
        f"{per}; ASHA grace {grace} epochs, reduction {REDUCTION}, to {epochs} epochs")
    per_trial = run_trials(_probe, space, len(cands), auto_dir / "ray", address, announce=announce, what="probe",
                           scheduler=scheduler, metric="score")
    finished = []
    for c in cands:
        p = state.probe(c)
        run = auto_dir / _safe(c)
        if not TransferRecord.exists(run):
            p.error = "the Ray trial did not start training"
            continue
        p.run_dir = str(run)
        rec = TransferRecord.read(run)
        if rec.status == "training":  # stopped by ASHA mid-run (the actor was ended): say so in its record
            rec.status = "interrupted"
            rec.history = epoch_history(run, rec.history, {})  # what results.csv says was trained
            rec.write(run)
        read_probe(p)
        p.epochs_planned = epochs
        p.scores = [{"rung": i + 1, **score(p.curve[:stop], epochs, bonus[c], hold=hold[c])}
                    for i, (stop, _) in enumerate(plan) if len(p.curve) >= stop]
        if rec.status == "complete" and p.epochs_run >= epochs and not p.error:
            finished.append(c)
        else:
            p.dropped_at_rung = sum(1 for stop, _ in plan if p.epochs_run >= stop) or 1
    if not finished:
        errs = "; ".join(f"{c}: {state.probe(c).error}" for c in cands if state.probe(c).error)
        raise UserError(f"auto (ray): no candidate ran to the end; see {auto_dir}" + (f" ({errs})" if errs else ""))
    chosen = max(finished, key=lambda c: state.probe(c).curve[-1])  # max is stable: the earlier candidate wins ties
    run = Path(state.probe(chosen).run_dir)
    result = result_of(run, TransferRecord.read(run))
    info = {"name": "ASHA", "grace_period": grace, "reduction_factor": REDUCTION, "max_t": epochs,
            "resources_per_probe": per_trial}
    return chosen, result, plan, info


def asha_rungs(epochs: int, grace: int, n: int) -> list[tuple[int, int]]:
    """ASHA's rungs as (epoch, candidates expected to reach it): grace x REDUCTION^k below `epochs`, then the end."""
    out, k, alive = [], 0, n
    while grace * REDUCTION**k < epochs:
        out.append((grace * REDUCTION**k, alive))
        alive = max(1, math.ceil(alive / REDUCTION))
        k += 1
    return out + [(epochs, alive)]
