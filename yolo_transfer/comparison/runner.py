"""Running trials: one `train()` call each, resumable, failures kept as results.

`compare.json` in the compare folder is the state: the settings and, per trial id, its run folder and status. A
rerun of the same command skips trials whose run folder holds a finished record, resumes a trial whose run folder
has `weights/last.pt` (`train(resume=...)`, the same plan), and starts the rest. A trial that fails (bad subset,
crash in the training loop, failed freeze verification) is recorded with its error and the others go on.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Mapping

from yolo_transfer.comparison.plan import CompareSettings, TrialSpec, split_keep
from yolo_transfer.comparison.summary import Trial
from yolo_transfer.errors import Interrupted, UserError
from yolo_transfer.training.record import TransferRecord
from yolo_transfer.utils.console import ultralytics_logs_off
from yolo_transfer.utils.io import atomic_write_json

COMPARE_RESUME = "rerun the same command to resume (finished trials are kept)."

STATE = "compare.json"
DONE = ("complete", "verification failed")


class State:
    def __init__(self, folder: Path, settings: CompareSettings):
        self.path = folder / STATE
        self.folder = folder
        self.trials: dict[str, dict] = {}
        if self.path.exists():
            import json

            try:
                old = json.loads(self.path.read_text())
            except ValueError:
                raise UserError(f"{self.path} is damaged; remove the compare folder {folder} or pick another --name")
            if old.get("settings") != _jsonable(settings.key()):
                raise UserError(f"{folder} holds a different comparison (other data, weights, budget or settings); "
                                f"pick another --name, or rerun with that comparison's settings to resume it")
            self.trials = old.get("trials", {})
        self.settings = settings

    def save(self) -> None:
        atomic_write_json(self.path, {"format": "yolo-transfer/compare@1", "settings": _jsonable(self.settings.key()),
                                      "trials": self.trials})

    def set(self, spec: TrialSpec, **kw) -> None:
        self.trials.setdefault(spec.id, spec.to_dict()).update(kw)
        self.save()


def _jsonable(d):
    import json

    from yolo_transfer.utils.io import to_json

    return json.loads(to_json(d))


def trial_dir(folder: Path, spec: TrialSpec) -> Path:
    return folder / "trials" / spec.id


def what_to_do(folder: Path, spec: TrialSpec) -> str:
    """'skip' (a finished record), 'resume' (last.pt to continue from) or 'start'."""
    run = trial_dir(folder, spec)
    if TransferRecord.exists(run):
        try:
            if TransferRecord.read(run).status in DONE:
                return "skip"
        except UserError:
            pass
    if (run / "weights" / "last.pt").is_file() and TransferRecord.exists(run):
        return "resume"
    return "start"


def run_trial(spec: TrialSpec, folder: Path, data_yaml: Path, weights: str, train_kwargs: dict,
              callbacks: Mapping[str, Callable] | None = None, verbose: bool = False) -> Trial:
    """One trial, start to record; exceptions other than Ctrl-C become a failed `Trial`."""
    from yolo_transfer.training.api import train_preset

    run = trial_dir(folder, spec)
    action = what_to_do(folder, spec)
    try:
        if action == "skip":
            return Trial.from_record(spec, TransferRecord.read(run))
        if action == "resume":
            extra = {k: train_kwargs[k] for k in ("device", "workers") if k in train_kwargs}
            # equal wall time: the checkpoint keeps the whole budget (`time=`), and the trainer continues the run's
            # clock from the seconds already spent (training.timed)
            result = train_preset(resume=run, callbacks=callbacks, verbose=verbose, **extra)
        else:
            if run.exists():
                shutil.rmtree(run)  # a trial stopped before its first checkpoint: nothing to keep
            preset, keep = split_keep(spec.preset)
            kw = dict(train_kwargs)
            replay = kw.pop("replay", None)
            if keep is not None:  # `full+keep-distill`: that preset, keeping the checkpoint's classes
                kw.update(keep_classes=True, keep_method=keep, **({"replay": replay} if keep == "distill" else {}))
            result = train_preset(weights, data_yaml, preset=preset, seed=spec.seed, project=run.parent,
                                  name=run.name, callbacks=callbacks, verbose=verbose, **kw)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - one failed trial must not stop the comparison
        msg = " ".join(str(e).split())[:300]
        record = read_record(run)
        return Trial.from_record(spec, record, error=f"{type(e).__name__}: {msg}" if not isinstance(e, UserError) else msg)
    return Trial.from_record(spec, result.record, error=result.error)


def read_record(run: Path):
    """A trial's run record, or None when it has none or it is unreadable (the trial is then reported, not fatal)."""
    try:
        return TransferRecord.read(run) if TransferRecord.exists(run) else None
    except UserError:
        return None


def run_local(specs: list[TrialSpec], folder: Path, state: State, data_for: Callable[[TrialSpec], Path],
              weights: str, train_kwargs: dict, callbacks=None, verbose: bool = False,
              echo: Callable[[str], None] = print) -> list[Trial]:
    trials = []
    for k, spec in enumerate(specs, 1):
        action = what_to_do(folder, spec)
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
