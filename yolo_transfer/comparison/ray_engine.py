"""`--engine ray`: the same trials as Ray Tune trials, in parallel on an existing Ray cluster or a local Ray.

Each Tune trial runs `runner.run_trial` (exactly the local code path: the same `train()` call, run folder, record and
resume rule) and reports its outcome; the driver then reads the records and writes the same summary and report.
With GPUs in the cluster every trial gets one GPU; without, the CPUs are shared out evenly between the trials that
run at once (Ray sets each worker's thread count to its share). Cluster use: the data, the weights and the compare
folder must be at the same path on every node (shared storage). Install with `pip install 'yolo-transfer[distributed]'`.
"""

from __future__ import annotations

from pathlib import Path

from yolo_transfer.comparison.plan import TrialSpec
from yolo_transfer.comparison.summary import Trial


def _trainable(config: dict) -> None:
    from ray import tune

    from yolo_transfer.comparison.runner import run_trial
    from yolo_transfer.utils.console import ultralytics_logs_off

    item = dict(config["spec"])
    data = item.pop("data")
    spec = TrialSpec(**item)
    kwargs = dict(config["train_kwargs"])
    kwargs["device"] = "0" if config["gpu"] else "cpu"
    with ultralytics_logs_off(True):
        trial = run_trial(spec, Path(config["folder"]), Path(data), config["weights"], kwargs)
    tune.report({"status": trial.status, "error": trial.error or "", "score": trial.score or 0.0})


def run_ray(specs: list[TrialSpec], folder: Path, data_for, weights: str, train_kwargs: dict,
            address: str | None = None, echo=print) -> list[Trial]:
    from yolo_transfer.comparison.runner import run_trial, what_to_do
    from yolo_transfer.utils.raycluster import require_tune, run_trials

    _, tune = require_tune()
    todo = [s for s in specs if what_to_do(folder, s) != "skip"]
    if todo:
        items = [{"preset": s.preset, "seed": s.seed, "fraction": s.fraction, "data": str(data_for(s))} for s in todo]
        space = {"spec": tune.grid_search(items), "folder": str(folder.resolve()), "weights": weights,
                 "train_kwargs": train_kwargs}
        run_trials(_trainable, space, len(todo), folder / "ray", address, echo=echo,
                   announce=lambda per, cpus, gpus: echo(f"ray: {len(todo)} trial(s) on {cpus} CPU(s), {gpus} GPU(s); "
                                                         f"each trial gets {per}"))
    # the records in the run folders are the results (local path: skip = read the finished record)
    out = []
    for s in specs:
        if what_to_do(folder, s) == "skip":
            out.append(run_trial(s, folder, data_for(s), weights, train_kwargs))
        else:
            from yolo_transfer.comparison.runner import read_record, trial_dir

            rec = read_record(trial_dir(folder, s))
            out.append(Trial.from_record(s, rec, error=(rec.error if rec else None) or "the Ray trial did not finish"))
    return out
