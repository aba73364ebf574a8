"""The callbacks that run auto's probes: stop a probe at its rung, tell the state where it is, read its curve.

A probe is an ordinary `train_preset` run. Ultralytics has written `last.pt` (optimizer, EMA, epoch) when
`on_fit_epoch_end` fires, so a probe stopped there resumes exactly where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

from yolo_transfer.errors import Interrupted
from yolo_transfer.strategy.auto.policy import MAP, timed_rung_epochs
from yolo_transfer.strategy.auto.state import Probe


class ProbeStop(Interrupted):
    """Raised from `on_fit_epoch_end` to end a probe after its rung: `last.pt` stays resumable (Ultralytics' final
    validation, which would strip its optimizer, is skipped), and as an `Interrupted` `train_preset()` takes it for a
    pause, not a failure. `epochs`: the schedule's length when it stopped (a time-bounded run's refitted count)."""


def timed_stop(fraction: float, rung: int, wall_before: float, t_call: float, extra: float = 0.0):
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


def stopper(stop_at, user_cb=None, on_stop=None):
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
            raise ProbeStop(f"probe stopped after epoch {done}", epochs=trainer.epochs)
    return on_fit_epoch_end


def note_folder(p: Probe, save):
    def on_pretrain_routine_end(trainer):
        if p.run_dir != str(trainer.save_dir):
            p.run_dir = str(trainer.save_dir)
            save("running")
    return on_pretrain_routine_end


def note_rung(p: Probe, rung: int, save):
    def on_stop(trainer):
        p.run_dir, p.rung_reached, p.epochs_planned = str(trainer.save_dir), rung, trainer.epochs
        save("running")
    return on_stop


def then(first, second=None):
    """One callback that runs `first`, then the user's own for the same event."""
    if second is None:
        return first
    return lambda trainer: (first(trainer), second(trainer))


def read_probe(p: Probe) -> None:
    from yolo_transfer.training.results import read_results
    from yolo_transfer.training.record import TransferRecord

    rec = TransferRecord.read(Path(p.run_dir))
    hist = rec.history or []
    rows = read_results(Path(p.run_dir))
    if len(rows) > len(hist):  # killed before its record was written: results.csv has the epochs it ran
        hist = rows
    p.curve = [round(float(r.get(MAP, 0.0)), 5) for r in hist]
    p.curve50 = [round(float(r.get("metrics/mAP50(B)", 0.0)), 5) for r in hist]
    p.epoch_seconds = [float(r.get("epoch_seconds", 0.0)) for r in hist]
    p.epochs_run = len(hist)
    p.seconds = float(rec.train_seconds or 0.0)
    if rec.error:
        p.error = rec.error
