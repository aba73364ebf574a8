"""Ultralytics' time mode (`time=` hours), made resumable.

A time-bounded Ultralytics run refits its epoch count after every epoch (`ceil(time / mean epoch time)`); a resumed
one (Ultralytics 8.4) restarts with the checkpoint's count from *before* that epoch's refit (it can end at once or
refuse to resume), restarts the clock (the wall-clock stop forgets the time already spent) and reopens mosaic
augmentation that the run left alone had closed (`mosaic_closed_before`); and a stage placed as a share of the run
(progressive) must not fall back to an earlier one (`TransferTrainer.stage_for`, from the replayed `epoch_counts`).
`--preset auto` and `compare --budget-minutes` resume runs, so both hit it (docs/evidence/strategy.md).

The fix, through `TransferTrainer.resume_training` and an epoch-start callback: refit the count from the earlier
sessions' own epochs and seconds (results.csv), then continue the run's clock where they left it, and close mosaic
again if the run had closed it, so a resumed time-bounded run trains and ends as the same run left alone would have
(`time=` stays the whole run's budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def loop_seconds(rows: Iterable[Mapping[str, float]]) -> float:
    """Training-loop seconds used so far (see `cumulative_seconds`)."""
    cum = cumulative_seconds(rows)
    return cum[-1] if cum else 0.0


def cumulative_seconds(rows: Iterable[Mapping[str, float]]) -> list[float]:
    """Loop seconds at the end of each epoch. results.csv's `time` runs on across resumed sessions here, but a run
    resumed by plain Ultralytics (or an older yolo-transfer) restarts it: a drop starts a new session, so sum them."""
    out, total, prev = [], 0.0, 0.0
    for r in rows:
        t = float(r.get("time", 0.0))
        if t < prev:
            total += prev
        prev = t
        out.append(total + t)
    return out


def epoch_counts(hours: float, first_guess: int | None, cum: list[float]) -> list[int | None]:
    """The epoch count Ultralytics held at the start of each epoch of a time-bounded run, replayed from the loop
    seconds at the end of each (`cumulative_seconds`): the first guess, then its refit after every epoch. None where
    it cannot be replayed (an older record without the first guess, a row without its time)."""
    refits = [refit_epochs(hours, e, c) if c > 0 else None for e, c in enumerate(cum[:-1], 1)]
    return [first_guess, *refits] if cum else []


def mosaic_closed_before(counts: list[int | None], close_mosaic: int) -> bool:
    """Whether the run, left alone, had closed mosaic augmentation in the epochs whose counts are `counts`
    (`epoch_counts`): Ultralytics closes it at the first epoch e with e >= count_e - close_mosaic, and a resumed
    session reopens it (docs/evidence/strategy.md, "Resumes and mosaic")."""
    if not close_mosaic:
        return False
    return any(n is not None and e >= n - close_mosaic for e, n in enumerate(counts))


def refit_epochs(hours: float, done: int, seconds: float) -> int:
    """Ultralytics' own refit (`ceil(budget / mean epoch time)`) over every session so far; at least one more epoch,
    so a resumed run always makes progress (the wall-clock stop still ends it at the budget)."""
    if done <= 0 or seconds <= 0:
        raise ValueError("refit_epochs needs the epochs done and the seconds they took")
    return max(done + 1, math.ceil(hours * 3600 / (seconds / done)))


def rows_before(rows: list[dict[str, float]], done: int) -> list[dict[str, float]]:
    """The results.csv rows of the epochs the checkpoint holds, one per epoch: a kill between the csv and the save
    leaves a row for an epoch the checkpoint lacks, which the resumed session trains and writes again (the later
    row is the one the checkpoint continues from)."""
    last: dict[int, dict[str, float]] = {}
    for r in rows:
        if int(r.get("epoch", 0)) <= done:
            last[int(r.get("epoch", 0))] = r
    return [last[e] for e in sorted(last)]


def continue_clock(trainer) -> None:
    """At the first epoch of a resumed time-bounded session: move the run's clock back by the seconds already spent
    and count epochs from 0, so Ultralytics' wall-clock stop and its per-epoch refit see the whole run."""
    spent = getattr(trainer, "time_spent", None)
    if spent is None:
        return
    trainer.time_spent = None
    trainer.train_time_start -= spent
    # the loop's epoch counter was already taken from `start_epoch`; after this the refit (mean = time / epochs since
    # start), a log line, the GPU first-epoch OOM retry (now off) and NaN recovery (now on: last.pt exists) read it
    trainer.start_epoch = 0
