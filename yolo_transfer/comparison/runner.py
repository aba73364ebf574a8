"""Running a comparison's trials in this process: one `train()` call each, skipped, resumed or started by
`sweep.trial`'s rule, with `compare.json` (`comparison.state.CompareState`) following every step. A trial that fails
(bad subset, crash in the training loop, failed freeze verification) is recorded with its error; the others go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from yolo_transfer.comparison.plan import TrialSpec, split_keep
from yolo_transfer.comparison.state import CompareState
from yolo_transfer.comparison.summary import Trial
from yolo_transfer.errors import Interrupted, UserError
from yolo_transfer.sweep import trial as sweep
from yolo_transfer.training.record import TransferRecord
from yolo_transfer.utils.console import ultralytics_logs_off

COMPARE_RESUME = "rerun the same command to resume (finished trials are kept)."


def trial_dir(folder: Path, spec: TrialSpec) -> Path:
    return folder / "trials" / spec.id


def _start(spec: TrialSpec, data_yaml: Path, weights: str, train_kwargs: dict) -> dict:
    """The `train()` arguments of a trial that starts: the shared ones, its preset and seed (and keep-classes)."""
    preset, keep = split_keep(spec.preset)
    kw = dict(train_kwargs)
    replay = kw.pop("replay", None)
    if keep is not None:  # `full+keep-distill`: that preset, keeping the checkpoint's classes
        kw.update(keep_classes=True, keep_method=keep, **({"replay": replay} if keep == "distill" else {}))
    return dict(model=weights, data=data_yaml, preset=preset, seed=spec.seed, **kw)


def run_trial(spec: TrialSpec, folder: Path, data_yaml: Path, weights: str, train_kwargs: dict,
              callbacks: Mapping[str, Callable] | None = None, verbose: bool = False) -> Trial:
    """One trial, start to record; exceptions other than Ctrl-C become a failed `Trial`."""
    run = trial_dir(folder, spec)
    try:
        if sweep.action(run) == "skip":
            return Trial.from_record(spec, TransferRecord.read(run))
        # equal wall time on a resume: the checkpoint keeps the whole budget (`time=`), and the trainer continues
        # the run's clock from the seconds already spent (training.timed)
        resume_with = {k: train_kwargs[k] for k in ("device", "workers") if k in train_kwargs}
        result = sweep.run(run, {**_start(spec, data_yaml, weights, train_kwargs), "verbose": verbose},
                           {**resume_with, "verbose": verbose}, callbacks)
    except Exception as e:  # noqa: BLE001 - one failed trial must not stop the comparison (Ctrl-C is no Exception)
        msg = " ".join(str(e).split())[:300]
        return Trial.from_record(spec, sweep.record(run),
                                 error=f"{type(e).__name__}: {msg}" if not isinstance(e, UserError) else msg)
    return Trial.from_record(spec, result.record, error=result.error)


def run_local(specs: list[TrialSpec], folder: Path, state: CompareState, data_for: Callable[[TrialSpec], Path],
              weights: str, train_kwargs: dict, callbacks=None, verbose: bool = False,
              echo: Callable[[str], None] = print) -> list[Trial]:
    """Policy "all", in this process: every trial to its end, one after another."""
    trials = []
    for k, spec in enumerate(specs, 1):
        action = sweep.action(trial_dir(folder, spec))
        echo(f"[{k}/{len(specs)}] {spec.id}: " + {"skip": "finished earlier, kept", "resume": "resuming",
                                                  "start": "training"}[action])
        state.set(spec, run_dir=str(trial_dir(folder, spec)), status="running")
        try:
            with ultralytics_logs_off(not verbose):
                trial = run_trial(spec, folder, data_for(spec), weights, train_kwargs, callbacks, verbose)
        except KeyboardInterrupt as e:
            state.set(spec, status="interrupted")
            raise Interrupted.at(e, hint=COMPARE_RESUME)
        state.set(spec, status=trial.status, error=trial.error)
        if action != "skip":
            echo(f"      {trial.status}" + (f": {trial.error}" if trial.error else
                                            f", mAP50-95 {trial.score:.4f}, {trial.seconds:.0f} s"
                                            if trial.score is not None else ""))
        trials.append(trial)
    return trials
