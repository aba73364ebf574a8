"""`train()`: the public training entry point, a named preset or `auto`, behind `yolo-transfer train`.

A preset trains once (`yolo_transfer.training.api.train_preset`); `preset="auto"` (or `auto:a,b,c`) and the folder of
an auto run passed to `resume` go to the strategy layer (`yolo_transfer.strategy.auto`), which trains through the
same engine. Routing here, above both layers, keeps `training/` free of imports from `strategy/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

from yolo_transfer.errors import UserError
from yolo_transfer.presets import is_auto
from yolo_transfer.training.api import TrainResult, run_folder, train_preset
from yolo_transfer.utils.env import check_device
from yolo_transfer.utils.io import check_folder_path
from yolo_transfer.utils.lock import folder_lock
from yolo_transfer.weights import DEFAULT_MODEL


def train(
    model: str | os.PathLike = DEFAULT_MODEL,
    data: str | os.PathLike | None = None,
    *,
    preset: str = "frozen-backbone",
    epochs: int = 50,
    budget_minutes: float | None = None,
    imgsz: int = 640,
    batch: int = 16,
    device: str | None = None,
    seed: int = 0,
    project: str | os.PathLike = "runs",
    name: str = "train",
    bn_policy: str = "frozen",
    class_map: str | os.PathLike | Mapping[str, str] | None = None,
    presets_file: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    callbacks: Mapping[str, Callable] | None = None,
    verbose: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
    wait: bool = False,
    keep_classes: bool = False,
    keep_method: str = "exact",
    retention_data: str | os.PathLike | None = None,
    replay: str | os.PathLike | None = None,
    **overrides: Any,
) -> TrainResult:
    """Fine-tune `model` (a COCO checkpoint, an Ultralytics name or an architecture YAML) on `data` with a transfer
    preset, verify that frozen tensors stayed bit-identical, and write the run record; returns a `TrainResult`.

    Args:
        model: checkpoint path or Ultralytics name (`yolo26n.pt`, the default) or architecture YAML.
        data: dataset YAML (Ultralytics YOLO layout); not needed with `resume`.
        preset: a preset name (`yolo-transfer presets`), `freeze:N`, `layers:...`, a name from `presets_file`, or
            `auto` / `auto:a,b,c` to choose among presets by successive halving (at most 1.5x one run).
        epochs: epochs to train (with `budget_minutes`: only Ultralytics' first guess).
        budget_minutes: a wall-clock budget for the training loop instead of `epochs` (Ultralytics' `time=`, which
            refits the epochs and the learning-rate schedule to it after every epoch).
        imgsz: training image size, as in Ultralytics.
        batch: batch size, as in Ultralytics.
        device: `cpu`, `0`, `0,1` (multi-GPU DDP), ... (default: Ultralytics' choice).
        seed: the run's random seed.
        project: the folder run folders go into.
        name: the run folder's name (never overwritten: -2, -3 ...).
        bn_policy: `frozen` (BatchNorm statistics fixed in frozen layers), `train` or `freeze`.
        class_map: `{target_class: source_class}` (or its YAML) for classes renamed between checkpoint and data.
        resume: a run folder (or its `last.pt`), or an auto run's folder, to go on from.
        callbacks: Ultralytics callback events to functions, e.g. `{"on_fit_epoch_end": fn}`.
        verbose: Ultralytics' own log output.
        engine: with `preset="auto"`, `ray` runs the probes in parallel on Ray Tune with ASHA.
        ray_address: an existing Ray cluster for `engine="ray"` (default: RAY_ADDRESS or a local Ray).
        wait: a run folder has one writer at a time; while another process writes the folder `resume` names, wait
            for it instead of raising `UserError`.
        **overrides: any other Ultralytics training argument (`lr0=0.01`, `time=0.25` hours, `workers=4` ...).

        keep_classes: keep the checkpoint's classes and add the dataset's (one names table); `keep_method`: `exact`
            (the old outputs unchanged by construction, verified; the new classes train a copy of the layers the
            preset trains and new class branches), `distill` (the backbone may train; the old classes
            kept by the source model's pseudo-labels and `replay` images), or `plain` (no protection, for contrast).
        retention_data: a dataset labelled with the checkpoint's classes (e.g. coco128.yaml): the record then holds
            the source classes' mAP50-95 before and after, and retention = after / before.
        replay: with `keep_method="distill"`, a source-domain dataset whose train images join the training set.

    A failed freeze verification or a crash inside the training loop is in `result.error` (or raised by
    `result.raise_for_status()`); bad input raises `UserError` before anything trains.
    """
    check_device(device)  # a GPU asked for where there is none: one line now, not a traceback from the trainer
    if engine not in ("local", "ray"):
        raise UserError(f"--engine {engine}: choose local or ray")
    if (engine != "local" or ray_address) and not is_auto(preset):
        raise UserError("--engine/--ray-address are for --preset auto (compare has its own --engine)")
    if budget_minutes is not None:
        if not budget_minutes > 0 or "time" in overrides:
            raise UserError("--budget-minutes must be > 0 (and not given together with time=)")
        overrides["time"] = budget_minutes / 60.0
    from yolo_transfer.strategy import auto

    keep = dict(keep_classes=keep_classes, keep_method=keep_method, retention_data=retention_data, replay=replay)
    keep = {k: v for k, v in keep.items() if v != {"keep_classes": False, "keep_method": "exact"}.get(k)}
    if not resume:  # a new folder under `project` (Ultralytics and auto never reuse one)
        check_folder_path(project, "--project")
        if is_auto(preset):  # successive halving over presets
            return auto.auto_train(model, data, preset=preset, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                                   seed=seed, project=project, name=name, bn_policy=bn_policy, class_map=class_map,
                                   presets_file=presets_file, callbacks=callbacks, verbose=verbose, engine=engine,
                                   ray_address=ray_address, **keep, **overrides)
        return train_preset(model, data, preset=preset, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                            seed=seed, project=project, name=name, bn_policy=bn_policy, class_map=class_map,
                            presets_file=presets_file, callbacks=callbacks, verbose=verbose, **keep, **overrides)
    auto_run = auto.is_auto_run(resume)  # an auto run's folder: auto goes on where it stopped
    if keep:  # a run goes on with what it started with; the record has it
        raise UserError(f"--resume {resume}: the keep-classes options come from the run's record; drop "
                        f"{', '.join('--' + k.replace('_', '-') for k in keep)}")
    if auto_run and overrides:  # its probes go on with the options they started with (a changed one breaks the plan)
        raise UserError(f"--resume {resume}: an auto run goes on with the options it started with; "
                        f"drop {', '.join(sorted(overrides))} (only --device may change)")
    folder = Path(resume) if auto_run else run_folder(resume, check=False)
    if not folder.is_dir():
        run_folder(resume)  # not a run: its one line, before the lock would make a folder
    # one writer per folder: a resume while it runs (another terminal, a retry) is told so first, and refused or
    # waits; what it holds is checked once it is ours (train_preset)
    with folder_lock(folder, "train --resume", wait=wait):
        if auto_run:
            return auto.resume_auto(resume, callbacks=callbacks, device=device)
        return train_preset(model, data, preset=preset, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                            seed=seed, project=project, name=name, bn_policy=bn_policy, class_map=class_map,
                            presets_file=presets_file, resume=resume, callbacks=callbacks, verbose=verbose,
                            **overrides)
