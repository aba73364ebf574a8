"""`train()`: the public training entry point, a named preset or `auto`, behind `yolo-transfer train`.

A preset trains once (`yolo_transfer.training.api.train_preset`); `preset="auto"` (or `auto:a,b,c`) and the folder of
an auto run passed to `resume` go to the strategy layer (`yolo_transfer.strategy.auto`), which trains through the
same engine. Routing here, above both layers, keeps `training/` free of imports from `strategy/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from yolo_transfer import safeload
from yolo_transfer.errors import UserError
from yolo_transfer.options import ENGINES, KEEP_FIELDS, TrainOptions, takes
from yolo_transfer.presets import parse_preset
from yolo_transfer.training.api import TrainResult, run_folder, train_preset
from yolo_transfer.utils.env import check_device
from yolo_transfer.utils.io import check_folder_path
from yolo_transfer.utils.lock import folder_lock
from yolo_transfer.weights import DEFAULT_MODEL


@takes(TrainOptions, overrides=True)
def train(model: str | os.PathLike = DEFAULT_MODEL, data: str | os.PathLike | None = None,
          **kwargs: Any) -> TrainResult:
    """Fine-tune `model` (a COCO checkpoint, an Ultralytics name or an architecture YAML) on `data` with a transfer
    preset, verify that frozen tensors stayed bit-identical, and write the run record; returns a `TrainResult`.

    A failed freeze verification or a crash inside the training loop is in `result.error` (or raised by
    `result.raise_for_status()`); bad input raises `UserError` before anything trains; Ctrl-C raises `Interrupted`
    (a `KeyboardInterrupt`) naming the folder to resume.

    Args:
        model: checkpoint path or Ultralytics name (`yolo26n.pt`, the default) or architecture YAML.
        data: dataset YAML (Ultralytics YOLO layout); not needed with `resume`.
    """
    opts, overrides = TrainOptions.split(kwargs)
    return run_train(model, data, opts, overrides)


def run_train(model: str | os.PathLike, data: str | os.PathLike | None, opts: TrainOptions,
              overrides: dict) -> TrainResult:
    """`train` with its options typed: a preset's one run, `auto`'s choice, or the resume of either."""
    with safeload.loading(opts.trust_checkpoint):
        return _train(model, data, opts, overrides)


def _train(model, data, opts: TrainOptions, overrides: dict) -> TrainResult:
    check_device(opts.device)  # a GPU asked for where there is none: one line now, not a traceback from the trainer
    spec = parse_preset(opts.preset)
    if spec.keep is not None:  # `full+keep-distill`: the compare spelling of --keep-classes --keep-method distill
        opts = opts.replace(preset=spec.base, keep_classes=True, keep_method=spec.keep)
    if opts.engine not in ENGINES:
        raise UserError(f"--engine {opts.engine}: choose one of {', '.join(ENGINES)}")
    if (opts.engine != "local" or opts.ray_address) and not spec.auto:
        raise UserError("--engine/--ray-address are for --preset auto (compare has its own --engine)")
    if opts.budget_minutes is not None:
        if not opts.budget_minutes > 0 or "time" in overrides:
            raise UserError("--budget-minutes must be > 0 (and not given together with time=)")
        overrides = {**overrides, "time": opts.budget_minutes / 60.0}
    from yolo_transfer.strategy import auto

    if not opts.resume:  # a new folder under `project` (Ultralytics and auto never reuse one)
        check_folder_path(opts.project, "--project")
        if spec.auto:  # successive halving over presets
            return auto.auto_train(model, data, opts, overrides)
        return train_preset(model, data, opts, **overrides)
    auto_run = auto.is_auto_run(opts.resume)  # an auto run's folder: auto goes on where it stopped
    keep = opts.changed(*KEEP_FIELDS)
    if keep:  # a run goes on with what it started with; the record has it
        raise UserError(f"--resume {opts.resume}: the keep-classes options come from the run's record; drop "
                        f"{', '.join('--' + k.replace('_', '-') for k in keep)}")
    if auto_run and overrides:  # its probes go on with the options they started with (a changed one breaks the plan)
        raise UserError(f"--resume {opts.resume}: an auto run goes on with the options it started with; "
                        f"drop {', '.join(sorted(overrides))} (only --device may change)")
    folder = Path(opts.resume) if auto_run else run_folder(opts.resume, check=False)
    if not folder.is_dir():
        run_folder(opts.resume)  # not a run: its one line, before the lock would make a folder
    # one writer per folder: a resume while it runs (another terminal, a retry) is told so first, and refused or
    # waits; what it holds is checked once it is ours (train_preset)
    with folder_lock(folder, "train --resume", wait=opts.wait):
        if auto_run:
            return auto.resume_auto(opts.resume, callbacks=opts.callbacks, device=opts.device)
        return train_preset(model, data, opts, **overrides)
