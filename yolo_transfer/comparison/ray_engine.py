"""`--engine ray`: the same trials as Ray Tune trials (`sweep.ray`), each running `runner.run_trial` (the local code
path); the driver then reads the records and writes the same summary and report.
"""

from __future__ import annotations

from pathlib import Path

from yolo_transfer.comparison.plan import TrialSpec
from yolo_transfer.comparison.runner import run_trial, trial_dir
from yolo_transfer.comparison.summary import Trial
from yolo_transfer.sweep import trial as sweep


def _trainable(config: dict) -> None:
    from ray import tune

    from yolo_transfer.sweep.ray import worker_device
    from yolo_transfer.utils.console import ultralytics_logs_off

    item = dict(config["spec"])
    data = item.pop("data")
    kwargs = {**config["train_kwargs"], "device": worker_device(config)}
    with ultralytics_logs_off(True):
        trial = run_trial(TrialSpec(**item), Path(config["folder"]), Path(data), config["weights"], kwargs)
    tune.report({"status": trial.status, "error": trial.error or "", "score": trial.score or 0.0})


def run_ray(specs: list[TrialSpec], folder: Path, data_for, weights: str, train_kwargs: dict,
            address: str | None = None, echo=print) -> list[Trial]:
    from yolo_transfer.sweep.ray import require_tune, run_trials

    _, tune = require_tune()
    todo = [s for s in specs if sweep.action(trial_dir(folder, s)) != "skip"]
    if todo:
        items = [{"preset": s.preset, "seed": s.seed, "fraction": s.fraction, "data": str(data_for(s))} for s in todo]
        space = {"spec": tune.grid_search(items), "folder": str(folder.resolve()), "weights": weights,
                 "train_kwargs": train_kwargs}
        run_trials(_trainable, space, len(todo), folder / "ray", address, echo=echo,
                   announce=lambda per, cpus, gpus: echo(f"ray: {len(todo)} trial(s) on {cpus} CPU(s), {gpus} GPU(s); "
                                                         f"each trial gets {per}"))
    out = []  # the records in the run folders are the results
    for s in specs:
        rec = sweep.record(trial_dir(folder, s))
        done = rec is not None and rec.status in sweep.DONE
        out.append(Trial.from_record(s, rec, error=None if done else (rec.error if rec else None)
                                     or "the Ray trial did not finish"))
    return out
