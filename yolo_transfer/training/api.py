"""`train_preset()`: one training run of one transfer preset, the engine behind `train`, `compare` and `auto`.

It resolves the weights, reads the model's anatomy, turns the preset into a freeze plan, trains with
`TransferTrainer`, verifies the frozen tensors and writes the run's `TransferRecord` (`transfer.json` +
`transfer.md` + `transfer.png`) into the run folder. It is made to be called in a loop: it always returns a
`TrainResult` (a failed freeze verification or a crash inside the training loop is in `result.error`, never raised;
bad input still raises `UserError` before anything trains; Ctrl-C still raises `KeyboardInterrupt` with `run_dir`).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from yolo_transfer import safeload
from yolo_transfer.errors import Interrupted, TrainingFailed, UserError, VerificationError
from yolo_transfer.data.yolo_layout import check_data_yaml
from yolo_transfer.options import METRIC as MAP
from yolo_transfer.options import METRIC50 as MAP50
from yolo_transfer.options import TrainOptions
from yolo_transfer.presets import is_auto
from yolo_transfer.training.record import TRANSFER_JSON, TransferRecord
from yolo_transfer.training.results import read_results
from yolo_transfer.utils.imageread import pixel_limit
from yolo_transfer.utils.env import check_device
from yolo_transfer.utils.io import atomic_write_text
from yolo_transfer.utils.lock import folder_lock
from yolo_transfer.weights import DEFAULT_MODEL


@dataclass
class TrainResult:
    """What a training run did: where it is, what it scored, and whether its frozen layers were proven unchanged.

    Attributes:
        run_dir: the run folder (`transfer.json`, `transfer.md`, `weights/`, Ultralytics' files).
        best, last: `weights/best.pt` and `weights/last.pt` (None when missing).
        metrics: the last epoch's row of results.csv (`map50_95`, `map50` read it).
        history: one row per epoch (results.csv plus seconds, peak memory, images/s, the stage it trained in).
        seconds, peak_memory_mb: the training's wall time (all sessions) and peak memory.
        record: the run's `TransferRecord` (`transfer.json`); `transfer` is it as a dict.
        verified: every frozen tensor was checked bit for bit and none changed; `ok` = verified and no error.
        error: why the run failed (a crash inside the loop, or the verification); `raise_for_status()` raises it.
        auto, auto_dir: with `preset="auto"`, the choice's `AutoState` and folder.
    """

    run_dir: Path
    best: Path | None
    last: Path | None
    metrics: dict[str, float]  # the final row of results.csv
    metrics_source: str = "last"  # "last": the last epoch's validation, not best.pt's (that is record.final_val)
    history: list[dict[str, float]] = field(default_factory=list, repr=False)  # one row per epoch
    seconds: float = 0.0  # wall time of the training (this call's, plus earlier calls' when resumed)
    peak_memory_mb: float = 0.0  # process RSS peak on CPU, CUDA max allocated on GPU
    record: TransferRecord = field(default_factory=TransferRecord, repr=False)
    verified: bool = False
    error: str | None = None
    auto: Any = field(default=None, repr=False)
    auto_dir: Path | None = None

    @property
    def transfer(self) -> dict:
        """The run record as a plain dict (what `transfer.json` holds)."""
        return self.record.to_dict()

    @property
    def ok(self) -> bool:
        return self.verified and self.error is None

    @property
    def map50_95(self) -> float | None:
        """Validation mAP50-95 of the last epoch (None when the run did not validate)."""
        return self.metrics.get(MAP)

    @property
    def map50(self) -> float | None:
        return self.metrics.get(MAP50)

    def raise_for_status(self) -> "TrainResult":
        """For callers that want an exception: `VerificationError` (exit 3) or `TrainingFailed` (exit 1)."""
        if self.error is None:
            return self
        if self.record.status == "verification failed":
            raise VerificationError(self.error)
        raise TrainingFailed(self.error)


def _validate_overrides(overrides: Mapping[str, Any]) -> dict:
    import difflib

    from ultralytics.cfg import DEFAULT_CFG_DICT, get_cfg

    for key in overrides:
        if key not in DEFAULT_CFG_DICT:
            near = difflib.get_close_matches(key, DEFAULT_CFG_DICT, n=3)
            raise UserError(f"unknown training option '{key}'" + (f"; did you mean {', '.join(near)}?" if near else
                            "; see https://docs.ultralytics.com/usage/cfg for Ultralytics' training arguments"))
    try:
        get_cfg(overrides=dict(overrides))
    except (SyntaxError, TypeError, ValueError) as e:
        raise UserError(f"invalid training option: {' '.join(str(e).split())[:300]}")
    return dict(overrides)


def run_folder(run: str | os.PathLike, check: bool = True) -> Path:
    """The run folder `--resume` names (the folder or its `weights/last.pt`), refused (with `check`) unless it holds
    a run with a checkpoint to go on from."""
    run_dir = Path(run)
    if run_dir.is_file() and run_dir.name.endswith(".pt"):
        run_dir = run_dir.parent.parent
    if not check:
        return run_dir
    if not TransferRecord.exists(run_dir):
        raise UserError(f"--resume {run}: no {TRANSFER_JSON} in {run_dir}; pass a yolo-transfer run folder")
    if not (run_dir / "weights" / "last.pt").is_file():
        raise UserError(f"--resume {run}: {run_dir}/weights/last.pt is missing; nothing to resume from")
    return run_dir


@dataclass
class RunSpec:
    """What a run needs once its input is checked (`_prepare_new` / `_prepare_resume`): the freeze plan, the
    trainer's overrides and context, the record it writes and the source checkpoint verification compares with."""

    plan: Any  # presets.FreezePlan
    record: TransferRecord
    overrides: dict  # Ultralytics' arguments for the trainer
    context: dict  # what `TransferTrainer` reads: plan, BN policy, class map, keep-classes
    source: Path | None  # the checkpoint it starts from (None for an architecture YAML)
    run_dir: Path | None = None  # known before training only when resuming


def train_preset(model: str | os.PathLike = DEFAULT_MODEL, data: str | os.PathLike | None = None,
                 options: TrainOptions | None = None, **kwargs: Any) -> TrainResult:
    """Fine-tune `model` on `data` with one named transfer preset; returns a `TrainResult` (check `.error`).

    `options` (a `TrainOptions`; keyword arguments named like its fields replace its values) are `train`'s; the
    other keywords are Ultralytics training arguments (`lr0=0.01`, `mosaic=0.0`, `time=0.05` ...). `preset="auto"`
    is not a preset: `yolo_transfer.train` routes it to the strategy layer. Keep-classes: `training.keep`;
    `retention_data`: `training.retention`.
    """
    opts, overrides = TrainOptions.split(kwargs, base=options or TrainOptions())
    check_device(opts.device)  # a GPU asked for where there is none: one line now, not a traceback from the trainer
    if is_auto(opts.preset) and not opts.resume:
        raise UserError(f"preset {opts.preset}: auto chooses among presets; call yolo_transfer.train, not train_preset")
    # one writer per run folder (a second `train --resume` of it is refused, see utils.lock), held to the end
    with contextlib.ExitStack() as held:
        # called directly too, not only via train(): False inherits the enclosing block's choice (compare's trials)
        held.enter_context(safeload.loading(opts.trust_checkpoint or None))
        held.enter_context(pixel_limit(opts.max_pixels))
        if opts.resume:
            run = _prepare_resume(opts, overrides, held)
            if isinstance(run, TrainResult):
                return run
        else:
            run = _prepare_new(model, data, opts, overrides)
        return _run(run, opts, held)


def _prepare_resume(opts: TrainOptions, overrides: dict, held: contextlib.ExitStack) -> RunSpec | TrainResult:
    """A run folder to go on from, with the plan, context and record it started with."""
    from yolo_transfer.presets import FreezePlan
    from yolo_transfer.safeload import load

    run_dir = run_folder(opts.resume)
    record = TransferRecord.read(run_dir)
    held.enter_context(folder_lock(run_dir, "train --resume"))  # before anything is read or written
    plan = FreezePlan.from_dict(record.plan)
    source = Path(record.source["path"]) if record.source.get("sha256") else None
    last = load(run_dir / "weights" / "last.pt")
    # Ultralytics strips the optimizer (epoch -1) from last.pt when training ends: killed before the record was final
    if isinstance(last, dict) and last.get("epoch", -1) == -1:
        return finish(run_dir, record, plan, source)
    context = {"plan": record.plan, "bn_policy": record.bn_policy, "class_map": record.class_map,
               "epochs_requested": record.epochs_requested, "window": record.window,
               # the stage each epoch trained in (1-based epochs): a resumed run never goes back to an earlier one
               "stages_run": [[int(h["epoch"]), int(h["stage"])] for h in record.history
                              if h.get("stage") is not None and h.get("epoch") is not None]}
    if record.keep:  # keep-classes: the same combined head, held parameters and derived dataset
        context["keep"] = record.keep
    # Ultralytics takes the rest from the checkpoint; it lets a resume change a few (device, time, workers ...)
    ov = {**_validate_overrides(overrides), "resume": str(run_dir / "weights" / "last.pt")}
    if opts.device is not None:
        ov["device"] = opts.device
    return RunSpec(plan, record, ov, context, source, run_dir)


def _prepare_new(model, data, opts: TrainOptions, overrides: dict) -> RunSpec:
    """Everything checked and planned before the trainer exists: data, weights, anatomy, plan, keep plan, record."""
    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.training.head import check_class_map, load_class_map
    from yolo_transfer.training.keep import KEPT_SOURCE, branch_point, build_data, held_prefixes, is_kept
    from yolo_transfer.training.policy import check_bn_policy
    from yolo_transfer.weights import resolve_model

    check_bn_policy(opts.bn_policy)
    _check_teacher(overrides.get("distill_model"))
    spec = check_data_yaml(data)
    resolved = resolve_model(model)
    yolo = load_detection_model(resolved)
    anatomy = Anatomy.of(yolo.model)
    is_ckpt = resolved.endswith(".pt")
    source_names = dict(yolo.model.names) if is_ckpt else None
    cmap = dict(opts.class_map) if isinstance(opts.class_map, Mapping) else load_class_map(opts.class_map)
    names = dict(enumerate(spec.names))  # JSON keys are strings: the record keeps them so, read or written
    check_class_map(cmap, names, source_names)
    if is_ckpt and is_kept(yolo.model):  # its new classes' path would not load into a model built from YAML
        raise UserError(f"{resolved}: {KEPT_SOURCE}")
    keep = _keep_plan(opts, source_names, spec, cmap)
    plan = make_plan(opts.preset, anatomy, epochs=opts.epochs, presets_file=opts.presets_file)
    held_params = []
    if keep is not None and keep.method == "exact":
        # the new classes' path copies what the preset trains; the source's trains nothing (the head-only plan)
        keep.branch_from = branch_point(plan, anatomy)
        held_params = held_prefixes(yolo.model)
        plan = make_plan("head-only", anatomy, epochs=opts.epochs, presets_file=opts.presets_file)
    window = _window(opts, spec, yolo.model)
    del yolo
    context = {"plan": plan.to_dict(), "bn_policy": opts.bn_policy, "class_map": cmap,
               "window": window.to_dict() if window else None}
    data_path = spec.yaml_path
    if keep is not None:  # training reads the derived dataset: the combined names, labels in combined ids
        keep.data_yaml = str(build_data(spec, keep, Path(opts.project) / ".keep-data", resolved, opts.imgsz,
                                        opts.device))
        data_path = Path(keep.data_yaml)
        context["keep"] = {**keep.to_dict(), "held": held_params}
    ov = _validate_overrides({
        **overrides, "model": resolved, "data": str(data_path.resolve()), "epochs": opts.epochs,
        "imgsz": opts.imgsz, "batch": opts.batch, "seed": opts.seed, "project": str(Path(opts.project).resolve()),
        "name": opts.name, "exist_ok": False, "verbose": opts.verbose,
        **({"device": opts.device} if opts.device is not None else {}),
    })
    record = _new_record(opts, plan, anatomy, resolved, is_ckpt, cmap, data_path, names, context)
    return RunSpec(plan, record, ov, context, Path(resolved) if is_ckpt else None)


def _check_teacher(teacher) -> None:
    """Ultralytics loads a `distill_model=` teacher itself, inside the trainer: open it first, restricted like every
    checkpoint, so a planted one is refused in one line before a run folder exists."""
    if isinstance(teacher, (str, os.PathLike)) and str(teacher).endswith(".pt") and Path(teacher).is_file():
        from yolo_transfer import safeload

        safeload.load(teacher)


def _window(opts: TrainOptions, spec, source_model):
    """The run's intensity window: `--window`, else the source checkpoint's (checked against the data), else `auto`
    from the training images (None for 8-bit data)."""
    from yolo_transfer import windows

    images = spec.split_images("train")[0]
    return windows.choose(windows.of_model(source_model), opts.window, images, f"{spec.yaml_path}: train images")


def _new_record(opts: TrainOptions, plan, anatomy, resolved: str, is_ckpt: bool, cmap: dict, data_path: Path,
                names: dict, context: dict) -> TransferRecord:
    from yolo_transfer.utils.hashing import sha256_file

    return TransferRecord(
        preset=opts.preset, plan=plan.to_dict(), layers=plan.layer_table(), anatomy=anatomy.to_dict(),
        bn_policy=opts.bn_policy, class_map=cmap,
        source={"path": str(Path(resolved).resolve()) if is_ckpt else resolved,
                "sha256": sha256_file(resolved) if is_ckpt else None},
        data={"yaml": str(data_path.resolve()), "sha256": sha256_file(data_path),
              "names": {str(k): v for k, v in names.items()}},
        seed=opts.seed, params=_param_counts(anatomy, plan), epochs_requested=opts.epochs,
        keep=context.get("keep") or {}, window=context.get("window"),
        retention={"data": str(Path(opts.retention_data).resolve())} if opts.retention_data else {},
    )


def _run(run: RunSpec, opts: TrainOptions, held: contextlib.ExitStack) -> TrainResult:
    """Train under `TransferTrainer` with the run's callbacks, then `finish`; a crash is the result's error, Ctrl-C
    an `Interrupted` naming the folder to resume."""
    from yolo_transfer.training.meter import EpochMeter
    from yolo_transfer.training.trainer import TransferTrainer
    from yolo_transfer.utils.env import versions

    record, resume = run.record, run.run_dir is not None
    run.overrides["freeze"] = sorted(run.plan.frozen_at(0))
    try:
        trainer = TransferTrainer(overrides=run.overrides, context=run.context)
    except (RuntimeError, FileNotFoundError, AssertionError) as e:
        raise UserError(f"cannot start training: {' '.join(str(e).split())[:300]}")
    meter = EpochMeter()
    meter.attach(trainer)
    for event, fn in (opts.callbacks or {}).items():
        trainer.add_callback(event, fn)
    run_dir = Path(trainer.save_dir)
    if not resume:  # the folder Ultralytics has just made for this run: held until the run ends
        held.enter_context(folder_lock(run_dir, "train"))
    record.status, record.run_dir, record.versions = "training", str(run_dir), versions()
    record.args = {k: v for k, v in vars(trainer.args).items() if isinstance(v, (str, int, float, bool, list, type(None)))}
    record.error = None
    record.write(run_dir)
    spent = {"before": float(record.train_seconds or 0.0)}  # seconds of earlier sessions (`on_setup` may raise it)
    _record_callbacks(trainer, record, run_dir, resume, spent)
    t0 = time.time()
    try:
        trainer.train()
    except KeyboardInterrupt as e:
        _close_loaders(trainer)
        _account(record, meter, spent["before"], t0, run_dir)
        record.status = "interrupted"
        record.write(run_dir)
        raise Interrupted.at(e, run_dir=run_dir)  # so the CLI (and compare) can say how to resume
    except Exception as e:  # noqa: BLE001 - a loop caller (compare) needs the result; the traceback goes to a file
        _close_loaders(trainer)
        _account(record, meter, spent["before"], t0, run_dir)
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        record.status = "failed"
        record.error = f"training failed: {type(e).__name__}: {' '.join(str(e).split())[:300]} (traceback: {run_dir / 'error.txt'})"
        record.write(run_dir)
        return result_of(run_dir, record)
    _account(record, meter, spent["before"], t0, run_dir)
    return finish(run_dir, record, run.plan, run.source)


def _record_callbacks(trainer, record: TransferRecord, run_dir: Path, resume: bool, spent: dict) -> None:
    """The record's own Ultralytics callbacks: the head and optimizer as set up, and best.pt's per-class numbers."""

    def on_setup(tr) -> None:  # after Ultralytics' setup: the head as loaded, the optimizer as built
        if tr.setup_record and not resume:
            for key, value in tr.setup_record.items():
                setattr(record, key, value)
        if resume:
            record.resumed_at_epoch.append(tr.start_epoch)
            # a session killed outright never accounted its seconds: count at least the loop seconds results.csv
            # holds for the checkpoint's epochs, so compare's and auto's costs see the whole run
            from yolo_transfer.training.timed import loop_seconds, rows_before

            counted = loop_seconds(rows_before(read_results(run_dir), tr.start_epoch))
            spent["before"] = max(spent["before"], counted)
        record.write(run_dir)

    def on_final_val(tr) -> None:  # Ultralytics validated best.pt at the end: keep its per-class numbers
        record.final_val = _per_class(tr)

    trainer.add_callback("on_pretrain_routine_end", on_setup)
    trainer.add_callback("on_train_end", on_final_val)


def seconds_spent(run_dir: Path) -> float:
    """What a run has cost so far as its files say: its record's seconds, or at least the training-loop seconds
    results.csv holds (a session killed outright never wrote its record)."""
    from yolo_transfer.training.timed import loop_seconds

    counted = float(TransferRecord.read(run_dir).train_seconds or 0.0)
    return max(counted, round(loop_seconds(read_results(run_dir)), 2))


def _close_loaders(trainer) -> None:
    """Ultralytics shuts its persistent dataloader workers down only at a normal end: a run stopped early (an auto
    probe at its rung, Ctrl-C, a failure) would leave them alive beside the next run in the process."""
    for loader in (getattr(trainer, "train_loader", None), getattr(trainer, "test_loader", None)):
        if loader is not None and hasattr(loader, "close"):
            try:
                loader.close()
            except Exception:  # noqa: BLE001 - best effort: the run's result matters more than its workers
                pass


def _account(record: TransferRecord, meter, before: float, t0: float, run_dir: Path) -> None:
    record.train_seconds = round(before + time.time() - t0, 2)
    record.peak_memory_mb = round(max(float(record.peak_memory_mb or 0.0), meter.peak_mb), 1)
    record.history = epoch_history(run_dir, record.history, meter.rows)
    record.metrics = _last_metrics(run_dir, record.history)


def _per_class(trainer) -> dict:
    """mAP50-95 / mAP50 of best.pt overall and per class, from Ultralytics' final validation (no extra pass)."""
    m = getattr(getattr(trainer, "validator", None), "metrics", None)
    box = getattr(m, "box", None)
    if box is None or not getattr(trainer, "best", None) or not Path(trainer.best).exists():
        return {}
    names = getattr(m, "names", None) or trainer.data.get("names", {})
    per_class = {}
    for i, c in enumerate(getattr(box, "ap_class_index", [])):
        ap50, ap = box.class_result(i)[2:]
        per_class[str(names[int(c)])] = {"mAP50": round(float(ap50), 5), "mAP50-95": round(float(ap), 5)}
    return {"source": "best.pt", "mAP50": round(float(box.map50), 5), "mAP50-95": round(float(box.map), 5),
            "per_class": per_class}


def _param_counts(anatomy, plan) -> dict:
    out = {}
    for part in ("backbone", "neck", "head"):
        idx = anatomy.indices(part)
        total = sum(anatomy.layers[i].params for i in idx)
        trainable0 = sum(anatomy.layers[i].params for i in idx if i in plan.trainable_at(0))
        ever = sum(anatomy.layers[i].params for i in idx if i not in plan.never_trained)
        out[part] = {"total": total, "trainable_at_start": trainable0, "trained_at_some_stage": ever,
                     "frozen_throughout": total - ever}
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("total", "trainable_at_start", "trained_at_some_stage", "frozen_throughout")}
    return out


def result_of(run_dir: Path, record: TransferRecord) -> TrainResult:
    wdir = run_dir / "weights"
    return TrainResult(
        run_dir, wdir / "best.pt" if (wdir / "best.pt").exists() else None,
        wdir / "last.pt" if (wdir / "last.pt").exists() else None, dict(record.metrics), record.metrics_source,
        [dict(r) for r in record.history], float(record.train_seconds or 0.0), float(record.peak_memory_mb or 0.0),
        record, record.verified and record.error is None, record.error,
    )


def finish(run_dir: Path, record: TransferRecord, plan, source: Path | None) -> TrainResult:
    """Verify the frozen tensors, finalise the record; a failed verification is in the result, not raised."""
    from yolo_transfer.verify import verify_run

    held = tuple((record.keep or {}).get("held", ()))
    v = verify_run(run_dir / "weights", plan, record.bn_policy, source, held)
    record.verification = v.to_dict()
    if not record.history:
        record.history = epoch_history(run_dir, [], {})
        record.metrics = _last_metrics(run_dir, record.history)
    record.metrics_source = "last"
    record.status = "complete" if v.ok else "verification failed"
    record.error = None
    if not v.ok:
        what = v.changed or v.missing or [v.note]
        record.error = (f"frozen tensors changed in {run_dir}: {', '.join(what[:5])}{' ...' if len(what) > 5 else ''} "
                        f"({len(what)} in all; see {run_dir / TRANSFER_JSON})")
    best = run_dir / "weights" / "best.pt"
    if v.ok and record.keep.get("method") == "exact" and source is not None and best.is_file():
        _check_old_outputs(record, source, best, run_dir)
    if record.status == "complete" and record.retention.get("data") and source is not None and best.is_file():
        from yolo_transfer.training.keep import norm_name as _norm
        from yolo_transfer.training.retention import measure_retention

        old = {_norm(n) for n in (record.source_names or {}).values()}
        new = [n for n in (record.keep.get("names") or record.data.get("names", {}).values()) if _norm(n) not in old]
        record.retention = measure_retention(source, best, record.retention["data"],
                                             imgsz=int(record.args.get("imgsz") or 640), new_classes=new,
                                             device=record.args.get("device"),
                                             final_val=record.final_val)
    record.write(run_dir)
    return result_of(run_dir, record)


def _check_old_outputs(record: TransferRecord, source: Path, best: Path, run_dir: Path) -> None:
    """Keep-classes' exact method: the old classes' outputs of best.pt against the source model's, bit for bit, on
    the run's val images (and the retention images): a change fails the run like a changed frozen tensor."""
    from yolo_transfer.training.keep import verify_old_outputs
    from yolo_transfer.utils.walk import walk_files

    data_root = Path(record.keep["data_yaml"]).parent
    images = sorted(walk_files(data_root / "images" / "val"))[:8]
    if record.retention.get("data"):
        images += check_data_yaml(record.retention["data"]).require_images("val")[:8]
    check = verify_old_outputs(source, best, images, imgsz=int(record.args.get("imgsz") or 640))
    record.keep["old_outputs"] = check.to_dict()
    if not check.ok:
        record.status = "verification failed"
        what = check.changed or ["no image could be read to compare on"]
        record.error = (f"old-class outputs changed in {run_dir}: {', '.join(what[:3])} ({len(what)} in all; the "
                        f"exact method must leave them bit-identical; see {run_dir / TRANSFER_JSON})")


def _keep_plan(opts: TrainOptions, source_names, spec, class_map):
    """The keep-classes plan, or None; every bad combination refused in one line before anything trains."""
    from yolo_transfer.training.keep import check_method, keep_plan

    keep_classes, method, replay, retention_data = opts.keep_classes, opts.keep_method, opts.replay, opts.retention_data
    check_method(method)
    if retention_data is not None:
        from yolo_transfer.training.retention import check_retention_data

        check_retention_data(retention_data, source_names)
    if not keep_classes:
        if replay is not None:
            raise UserError("--replay feeds the source domain's images to --keep-classes --keep-method distill; "
                            "add those options or drop --replay")
        return None
    if source_names is None:
        raise UserError("--keep-classes keeps a checkpoint's classes: start from a .pt checkpoint (a YAML has none)")
    if method == "exact" and opts.bn_policy != "frozen":
        raise UserError(f"--bn-policy {opts.bn_policy} lets the frozen layers' BatchNorm statistics move, and "
                        f"--keep-method exact keeps the checkpoint's outputs exactly: drop --bn-policy")
    if replay is not None and method != "distill":
        raise UserError(f"--replay is for --keep-method distill (the {method} method does not train on it)")
    return keep_plan(source_names, dict(enumerate(spec.names)), method,
                     str(Path(replay).resolve()) if replay is not None else None, class_map)


def _last_metrics(run_dir: Path, history: list[dict]) -> dict[str, float]:
    """The last epoch's row of `history`, results.csv's columns only."""
    rows = read_results(run_dir)
    return {k: v for k, v in (history[-1] if history else {}).items() if rows and k in rows[-1]}


def epoch_history(run_dir: Path, previous: list[dict], measured: dict[int, dict]) -> list[dict[str, float]]:
    """results.csv, one row per epoch, plus this run's per-epoch seconds, peak memory and images/s (kept across
    resumes: epochs measured by an earlier call keep the numbers that call recorded)."""
    earlier = {int(r["epoch"]): r for r in previous if "epoch" in r}
    out = []
    for i, row in enumerate(read_results(run_dir)):
        epoch = int(row.get("epoch", i + 1))  # Ultralytics numbers epochs from 1 in results.csv
        extra = measured.get(epoch - 1) or {k: v for k, v in earlier.get(epoch, {}).items() if k not in row}
        out.append({**row, **extra})
    return out

