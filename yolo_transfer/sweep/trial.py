"""A sweep's trial: one `train_preset` run in a folder of its own, skipped, resumed or (re)started by one rule.

A folder with a finished record is kept; one with `weights/last.pt` and a record resumes from there (the same plan,
and in time mode the same budget clock); anything else holds nothing to keep and starts again in the same folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

from yolo_transfer.errors import UserError
from yolo_transfer.training.record import TransferRecord

DONE = ("complete", "verification failed")


def record(run: Path) -> TransferRecord | None:
    """A trial's run record, or None when it has none or it is unreadable (the trial is then reported, not fatal)."""
    try:
        return TransferRecord.read(run) if TransferRecord.exists(run) else None
    except UserError:
        return None


def resumable(run: Path) -> bool:
    return (run / "weights" / "last.pt").is_file() and TransferRecord.exists(run)


def action(run: Path) -> str:
    """'skip' (a finished record), 'resume' (a last.pt to continue from) or 'start'."""
    rec = record(run)
    if rec is not None and rec.status in DONE:
        return "skip"
    return "resume" if resumable(run) else "start"


def run(run: Path, start: Mapping[str, Any], resume_with: Mapping[str, Any] | None = None,
        callbacks: Mapping[str, Callable] | None = None):
    """Resume `run` (`train_preset(resume=run, **resume_with)`, what a resume may change such as the device) or
    start it there (`train_preset(**start)`, the folder cleared first); returns the `TrainResult`."""
    from yolo_transfer.training.api import train_preset

    if resumable(run):
        return train_preset(resume=run, callbacks=callbacks, **(resume_with or {}))
    if run.exists():
        shutil.rmtree(run)
    return train_preset(project=run.parent, name=run.name, callbacks=callbacks, **start)
