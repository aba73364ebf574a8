"""`compare()`: the same data, seed, settings and budget through several transfer presets; the trade-off, measured.

Each trial is one `train()` call, at equal epochs or equal wall time (`budget_minutes`: Ultralytics' `time=`). The
compare folder (`project/name`, never renamed so a rerun finds it) holds `compare.json` (state), `trials/<id>/` (run
folders), `summary.json`, `summary.csv`, `report.md` and `report.html`; the winner rule is in `comparison.summary`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_transfer.comparison.plan import CompareSettings, parse_list
from yolo_transfer.comparison.summary import RULE, Trial
from yolo_transfer.errors import Interrupted, UserError
from yolo_transfer.options import ENGINES, CompareOptions, takes
from yolo_transfer.utils.io import check_folder_path
from yolo_transfer.utils.lock import folder_lock
from yolo_transfer.weights import DEFAULT_MODEL


@dataclass
class CompareResult:
    """A comparison's outcome: every trial, the winner by the fixed rule, and where the reports are.

    Attributes:
        dir: the compare folder (rerunning the same call resumes it).
        trials: one `Trial` per preset x seed x fraction: its score, cost, data needs, scope and overfitting gap.
        winner: the best trial by `rule` (ties, within the seeds' spread, go to the cheaper), or None.
        table: the terminal table; files: `summary.json`, `summary.csv`, `report.md`, `report.html`, `compare.json`.
        how: how the winner was reached (scores, margins, ties).
    """

    dir: Path
    trials: list[Trial]
    winner: Trial | None
    rule: str
    table: str
    files: dict[str, Path] = field(default_factory=dict)
    how: dict = field(default_factory=dict, repr=False)  # how the winner was reached (scores, margins, ties)


@takes(CompareOptions, overrides=True)
def compare(model: str | os.PathLike = DEFAULT_MODEL, data: str | os.PathLike | None = None,
            **kwargs: Any) -> CompareResult:
    """Train `model` on `data` once per preset (x seed x fraction) under one budget; returns the measured trade-off.

    A preset may carry `+keep-<method>` (`full+keep-distill`): that preset keeping the checkpoint's classes
    (`training.keep`), side by side with plain presets. `retention_data` (labelled with the checkpoint's classes)
    adds a sixth axis: each trial's retention of them; `replay` feeds `+keep-distill` trials source-domain images.

    Rerunning with the same arguments resumes: finished trials are kept, an interrupted one continues from its
    last checkpoint. `overrides` are Ultralytics training arguments applied to every trial (`workers=0`, `lr0=...`).
    The compare folder has one writer at a time: while another process runs this comparison, this call raises
    `UserError` naming it, or with `wait=True` waits for it and then resumes (often only to report).

    Args:
        model: the checkpoint (COCO-pretrained) or Ultralytics name every trial starts from.
        data: dataset YAML (Ultralytics YOLO layout) with train and val splits.
    """
    opts, overrides = CompareOptions.split(kwargs)
    return run_compare(model, data, opts, overrides)


def run_compare(model: str | os.PathLike, data: str | os.PathLike | None, opts: CompareOptions,
                overrides: dict) -> CompareResult:
    """`compare` with its options typed: check everything, then run it holding the compare folder."""
    from yolo_transfer import safeload
    from yolo_transfer.comparison.plan import check_budget, validate
    from yolo_transfer.data.yolo_layout import resolve_data_yaml
    from yolo_transfer.training.budget import first_guess as first_guess_epochs

    with safeload.loading(opts.trust_checkpoint):
        if opts.engine not in ENGINES:
            raise UserError(f"--engine {opts.engine}: use one of {', '.join(ENGINES)}")
        if data is None:
            raise UserError("compare needs data: a dataset YAML with train and val splits")
        folder = check_folder_path(Path(opts.project).resolve() / opts.name, "--project/--name")
        resolved = lambda p: str(resolve_data_yaml(p).resolve()) if p is not None else None  # noqa: E731
        settings = CompareSettings(  # a dataset name (coco8.yaml) resolves as in train, before anything is written
            data=resolved(data), weights=str(Path(model).resolve()) if Path(model).is_file() else str(model),
            presets=parse_list(opts.presets, str, "presets"), epochs=opts.epochs, budget_minutes=opts.budget_minutes,
            seeds=parse_list(opts.seeds, int, "seeds"), fractions=parse_list(opts.fractions, float, "fractions"),
            imgsz=opts.imgsz, batch=opts.batch, device=opts.device, overrides=dict(overrides),
            retention_data=resolved(opts.retention_data), replay=resolved(opts.replay),
        )
        spec, _ = validate(settings, opts.presets_file)
        estimate = check_budget(settings, opts.presets_file) if opts.budget_minutes is not None else None
        first_guess = first_guess_epochs(estimate, estimate.dearest[0]) if estimate else None
        with folder_lock(folder, "compare", wait=opts.wait, other="pick another --name"):
            try:
                return _compare(folder, settings, spec, first_guess, opts)
            except KeyboardInterrupt as e:
                from yolo_transfer.comparison.runner import COMPARE_RESUME

                raise Interrupted.at(e, hint=COMPARE_RESUME)


def _compare(folder: Path, settings: CompareSettings, spec, first_guess, opts: CompareOptions) -> CompareResult:
    """`compare` once its input is checked and its folder is held by this process."""
    from yolo_transfer.comparison import fractions as frac
    from yolo_transfer.comparison.report import write_report
    from yolo_transfer.comparison.runner import run_local
    from yolo_transfer.comparison.state import CompareState
    from yolo_transfer.comparison.summary import pick_winner, table, write_summary

    budget_minutes, epochs, weights_s = settings.budget_minutes, settings.epochs, settings.weights
    engine, presets_file, echo = opts.engine, opts.presets_file, opts.echo or (lambda s: None)
    state = CompareState.open(folder, settings)
    kwargs = settings.train_kwargs(first_guess)
    if presets_file:
        kwargs["presets_file"] = str(Path(presets_file).resolve())
    specs = settings.trials()
    data_for = lambda s: frac.data_for(spec, s.fraction, s.seed, folder / "data")  # noqa: E731
    budget = f"{budget_minutes:g} min of training each" if budget_minutes is not None else f"{epochs} epoch(s) each"
    echo(f"compare: {len(specs)} trials ({', '.join(settings.presets)} x seeds {settings.seeds} x fractions "
         f"{settings.fractions}), {budget}, engine {engine} -> {folder}")
    if engine == "ray":
        from yolo_transfer.comparison.ray_engine import run_ray

        trials = run_ray(specs, folder, data_for, weights_s, kwargs, address=opts.ray_address, echo=echo)
        for s, t in zip(specs, trials):
            state.set(s, run_dir=t.run_dir, status=t.status, error=t.error)
    else:
        trials = run_local(specs, folder, state, data_for, weights_s, kwargs, opts.callbacks, opts.verbose, echo)
    winner, how = pick_winner(trials)
    tab = table(trials, winner)
    files = write_summary(folder, settings, trials, winner, how, engine)
    files.update(write_report(folder, f"Transfer strategies compared: {Path(settings.data).name}, "
                                      f"{Path(weights_s).name}, {budget}", tab, trials, winner, how))
    files["compare.json"] = CompareState.path(folder)
    return CompareResult(folder, trials, winner, RULE, tab, files, how)
