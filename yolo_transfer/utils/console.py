"""Quiet console: Ultralytics' logs and progress bars go to a log file; the terminal gets a line per step and epoch.

Inside `quiet(log_file)`, the handlers of Ultralytics' logger and `sys.stdout` (where its progress bars and prints
go) write to `log_file`; what the tool wants people to read goes through `Quiet.echo` (or `say`, from code with no
`Quiet` at hand) to the terminal the block started with. `verbose=True` redirects nothing. `epoch_line(echo)` makes an
`on_fit_epoch_end` callback printing ONE line per epoch:
`epoch 3/10  box 1.234 cls 2.345 dfl 1.456  mAP50 0.412 mAP50-95 0.187  12.3s`.
Ultralytics itself is not changed: the handlers and `sys.stdout` are restored on exit (also on error and Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterator, TextIO


_TERMINALS: list[TextIO] = []  # the terminals of the quiet() blocks now open, innermost last


def say(message: str) -> None:
    """A progress line of the tool's own from code with no `Quiet` at hand (`--preset auto`'s rungs): printed (into
    the log inside a quiet block) and, inside one, also on the terminal the block started with."""
    print(message, flush=True)
    if _TERMINALS and sys.stdout is not _TERMINALS[-1]:
        _TERMINALS[-1].write(f"{message}\n")
        _TERMINALS[-1].flush()


class Quiet:
    """What `quiet()` yields: where the log is, and `echo` to the real terminal."""

    def __init__(self, stream: TextIO, log_file: Path | None, verbose: bool):
        self._stream = stream
        self.log_file = log_file
        self.verbose = verbose

    def echo(self, message: str = "") -> None:
        self._stream.write(f"{message}\n")
        self._stream.flush()

    def move_log(self, folder: str | os.PathLike, name: str = "log.txt") -> Path | None:
        """Move the log file into `folder` (a run folder known only once training has started); keeps writing."""
        if self.log_file is None or self.verbose:
            return self.log_file
        target = Path(folder) / name
        if target != self.log_file:
            Path(folder).mkdir(parents=True, exist_ok=True)
            os.replace(self.log_file, target)  # the open handle follows the file on POSIX
            self.log_file = target
        return target


class _LogFile:
    """The log file as a stream whose failed writes (a full disk) are dropped, not a `--- Logging error ---` traceback
    per line or a progress bar crashing the run for the log's sake; the run's own files still fail, in one line."""

    def __init__(self, f: TextIO):
        self._f = f

    def write(self, text: str) -> int:
        try:
            return self._f.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._f.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._f.close()

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def is_quiet(quiet_flag: bool | None, verbose: bool = False) -> bool:
    """The CLI rule: --verbose wins, then --quiet/--no-quiet, else quiet when stdout is not a terminal."""
    return not verbose and (quiet_flag if quiet_flag is not None else not sys.stdout.isatty())


@contextlib.contextmanager
def quiet(log_file: str | os.PathLike | None, verbose: bool = False) -> Iterator[Quiet]:
    """Send Ultralytics' logs and progress output to `log_file` (appended) for the duration of the block."""
    stream = sys.stdout
    if verbose or log_file is None:
        yield Quiet(stream, None, True)
        return
    from ultralytics.utils import LOGGER

    path = Path(log_file)
    made = [d for d in (path.parent, *path.parent.parents) if not d.exists()]  # folders we create, deepest first
    path.parent.mkdir(parents=True, exist_ok=True)
    q = Quiet(stream, path, False)
    existed = path.exists()
    log = _LogFile(open(path, "a", encoding="utf-8", buffering=1))
    swapped: list[tuple[logging.StreamHandler, TextIO]] = []
    for h in LOGGER.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            swapped.append((h, h.setStream(log)))
    sys.stdout = log
    show_warning = warnings.showwarning
    # Python warnings from libraries under Ultralytics (e.g. Ray's session warning from its Ray Tune callback) too
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: show_warning(
        message, category, filename, lineno, log, line)
    _TERMINALS.append(stream)
    try:
        yield q
    finally:
        _TERMINALS.pop()
        warnings.showwarning = show_warning
        sys.stdout = stream
        for h, old in swapped:
            h.setStream(old)
        log.close()
        if not existed and q.log_file.exists() and q.log_file.stat().st_size == 0:
            q.log_file.unlink()  # nothing was logged (e.g. bad input refused up front): leave no empty file behind
            for d in made:  # nor the folders made for it (`runs/` before a run that never started)
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if still empty


def epoch_line(echo: Callable[[str], None], prefix: str | Callable[[object], str] = "",
               metrics: bool = True) -> Callable:
    """An `on_fit_epoch_end` callback printing one line per epoch (the extra call for best.pt's final val is skipped).
    `prefix`: a string, or a function of the trainer (`preset_prefix`: which of several runs taking turns it is);
    `metrics=False` for runs with `val=False`, whose epochs carry placeholder zeros."""

    def on_fit_epoch_end(trainer) -> None:
        if trainer.epoch >= trainer.epochs:  # Ultralytics re-runs the callback after validating best.pt
            return
        losses = trainer.label_loss_items(trainer.tloss) if trainer.tloss is not None else {}
        loss_txt = " ".join(f"{k.split('/')[-1].replace('_loss', '')} {v:.3f}" for k, v in losses.items())
        m = trainer.metrics or {}
        metric_txt = ""
        if metrics and "metrics/mAP50(B)" in m:
            metric_txt = f"  mAP50 {m['metrics/mAP50(B)']:.3f} mAP50-95 {m['metrics/mAP50-95(B)']:.3f}"
        secs = f"  {trainer.epoch_time:.1f}s" if trainer.epoch_time else ""
        width = len(str(trainer.epochs))
        head = prefix(trainer) if callable(prefix) else prefix
        echo(f"{head}epoch {trainer.epoch + 1:>{width}}/{trainer.epochs}  {loss_txt}{metric_txt}{secs}")

    return on_fit_epoch_end


def preset_prefix(trainer) -> str:
    """The preset a yolo-transfer trainer runs, as a line prefix (`--preset auto`: its probes take turns)."""
    plan = getattr(trainer, "plan", None)
    return f"{plan.preset}  " if plan is not None else ""


def quiet_callbacks(q: Quiet, prefix: str | Callable[[object], str] = "") -> dict[str, Callable] | None:
    """Callbacks for a quiet `train()`: a line per epoch, and the log moved into the run folder once it exists."""
    if q.verbose:
        return None
    return {"on_fit_epoch_end": epoch_line(q.echo, prefix),
            "on_pretrain_routine_end": lambda trainer: q.move_log(trainer.save_dir)}


@contextlib.contextmanager
def ultralytics_logs_off(on: bool):
    """Ultralytics' per-batch bars and logs off (its bars follow its logger's level): compare prints a line per trial."""
    log = logging.getLogger("ultralytics")
    level = log.level
    if on:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)
