"""`train()`: the one function behind `yolo-transfer train` (and, later, automatic strategy comparison).

It resolves the weights, reads the model's anatomy, turns the preset into a freeze plan, trains with
`TransferTrainer`, verifies the frozen tensors and writes `transfer.json` + `transfer.md` into the run folder.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping


from yolo_transfer.errors import UserError
from yolo_transfer.utils.io import atomic_write_json, atomic_write_text

TRANSFER_JSON = "transfer.json"


class VerificationError(UserError):
    exit_code = 3


@dataclass
class TrainResult:
    run_dir: Path
    best: Path | None
    last: Path | None
    metrics: dict[str, float]
    transfer: dict = field(repr=False, default_factory=dict)

    @property
    def verified(self) -> bool:
        return bool(self.transfer.get("verification", {}).get("ok"))


def check_data_yaml(data: str | os.PathLike):
    """Fail early, in one line, on what Ultralytics would turn into a download attempt or a long traceback.

    Returns the resolved `DataYaml` (the one reader `data check` uses too)."""
    from yolo_transfer.data.yolo_layout import load_data_yaml, resolve_data_yaml

    p = resolve_data_yaml(data)
    if not p.is_file():
        raise UserError(f"data YAML not found: {p} (make one with 'yolo-transfer data convert' or pass its path)")
    spec = load_data_yaml(p).require_ok()
    for key in ("train", "val"):
        for src in spec.splits.get(key, []):
            if not src.exists():
                raise UserError(f"data YAML {p}:{spec.line(key)}: {key} path {src} does not exist")
    return spec


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


def _load_run(run: str | os.PathLike) -> tuple[Path, dict]:
    run_dir = Path(run)
    if run_dir.is_file() and run_dir.name.endswith(".pt"):
        run_dir = run_dir.parent.parent
    tj = run_dir / TRANSFER_JSON
    if not tj.is_file():
        raise UserError(f"--resume {run}: no {TRANSFER_JSON} in {run_dir}; pass a yolo-transfer run folder")
    if not (run_dir / "weights" / "last.pt").is_file():
        raise UserError(f"--resume {run}: {run_dir}/weights/last.pt is missing; nothing to resume from")
    return run_dir, json.loads(tj.read_text())


def _write_report(run_dir: Path, transfer: dict) -> None:
    from yolo_transfer.training.report import render_markdown, render_plot

    atomic_write_json(run_dir / TRANSFER_JSON, transfer)
    atomic_write_text(run_dir / "transfer.md", render_markdown(transfer))
    if transfer.get("status") != "training":  # once per run is enough for the picture
        render_plot(transfer, run_dir / "transfer.png")


def train(
    data: str | os.PathLike,
    weights: str | os.PathLike = "yolo11n.pt",
    preset: str = "frozen-backbone",
    epochs: int = 50,
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
    **overrides: Any,
) -> TrainResult:
    """Fine-tune `weights` on `data` with a named transfer preset; returns the run folder, metrics and weights.

    `overrides` pass any other Ultralytics training argument through (`lr0=0.01`, `mosaic=0.0`, ...).
    """
    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.presets import FreezePlan, make_plan
    from yolo_transfer.training.head import check_class_map, load_class_map
    from yolo_transfer.training.policy import check_bn_policy
    from yolo_transfer.utils.env import versions
    from yolo_transfer.utils.hashing import sha256_file

    if resume:
        run_dir, previous = _load_run(resume)
        plan = FreezePlan.from_dict(previous["plan"])
        context = {"plan": previous["plan"], "bn_policy": previous["bn_policy"], "class_map": previous["class_map"]}
        ov = {"resume": str(run_dir / "weights" / "last.pt")}
        if device is not None:
            ov["device"] = device
        transfer = previous
        source = Path(previous["source"]["path"]) if previous["source"].get("sha256") else None
    else:
        check_bn_policy(bn_policy)
        spec = check_data_yaml(data)
        data_path = spec.yaml_path
        from yolo_transfer.weights import resolve_model

        resolved = resolve_model(weights)
        yolo = load_detection_model(resolved)
        anatomy = Anatomy.of(yolo.model)
        plan = make_plan(preset, anatomy, epochs=epochs, presets_file=presets_file)
        cmap = dict(class_map) if isinstance(class_map, Mapping) else load_class_map(class_map)
        names = dict(enumerate(spec.names))
        is_ckpt = resolved.endswith(".pt")
        check_class_map(cmap, names, dict(yolo.model.names) if is_ckpt else None)
        del yolo
        context = {"plan": plan.to_dict(), "bn_policy": bn_policy, "class_map": cmap}
        ov = _validate_overrides({
            **overrides, "model": resolved, "data": str(data_path.resolve()), "epochs": epochs, "imgsz": imgsz,
            "batch": batch, "seed": seed, "project": str(Path(project).resolve()), "name": name, "exist_ok": False,
            "verbose": verbose, **({"device": device} if device is not None else {}),
        })
        source = Path(resolved) if is_ckpt else None
        transfer = {
            "format": "yolo-transfer/transfer@1",
            "preset": preset,
            "plan": plan.to_dict(),
            "layers": plan.layer_table(),
            "anatomy": anatomy.to_dict(),
            "bn_policy": bn_policy,
            "class_map": cmap,
            "source": {"path": str(Path(resolved).resolve()) if is_ckpt else resolved,
                       "sha256": sha256_file(resolved) if is_ckpt else None},
            "data": {"yaml": str(data_path.resolve()), "sha256": sha256_file(data_path), "names": names},
            "seed": seed,
            "params": _param_counts(anatomy, plan),
        }
    from yolo_transfer.training.trainer import TransferTrainer

    ov["freeze"] = sorted(plan.frozen_at(0))
    try:
        trainer = TransferTrainer(overrides=ov, context=context)
    except (RuntimeError, FileNotFoundError, AssertionError) as e:
        raise UserError(f"cannot start training: {' '.join(str(e).split())[:300]}")
    for event, fn in (callbacks or {}).items():
        trainer.add_callback(event, fn)
    run_dir = Path(trainer.save_dir)
    transfer.update(status="training", run_dir=str(run_dir), versions=versions(),
                    args={k: v for k, v in vars(trainer.args).items() if isinstance(v, (str, int, float, bool, list, type(None)))})
    _write_report(run_dir, transfer)

    def _record(tr) -> None:  # after Ultralytics' setup: the head as loaded, the optimizer as built
        if tr.setup_record and not resume:
            transfer.update(tr.setup_record)
        transfer.setdefault("resumed_at_epoch", [])
        if resume:
            transfer["resumed_at_epoch"].append(tr.start_epoch)
        _write_report(run_dir, transfer)

    trainer.add_callback("on_pretrain_routine_end", _record)
    t0 = time.time()
    try:
        trainer.train()
    except KeyboardInterrupt as e:
        transfer["status"] = "interrupted"
        _write_report(run_dir, transfer)
        e.run_dir = run_dir  # so the CLI can say how to resume
        raise
    transfer["train_seconds"] = round(time.time() - t0, 2)
    return finish(run_dir, transfer, plan, source)


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


def finish(run_dir: Path, transfer: dict, plan, source: Path | None) -> TrainResult:
    from yolo_transfer.verify import verify_run

    wdir = run_dir / "weights"
    v = verify_run(wdir, plan, transfer["bn_policy"], source)
    transfer["verification"] = v.to_dict()
    metrics = _final_metrics(run_dir)
    transfer["metrics"] = metrics
    transfer["status"] = "complete" if v.ok else "verification failed"
    _write_report(run_dir, transfer)
    result = TrainResult(run_dir, wdir / "best.pt" if (wdir / "best.pt").exists() else None,
                         wdir / "last.pt" if (wdir / "last.pt").exists() else None, metrics, transfer)
    if not v.ok:
        what = v.changed or v.missing
        raise VerificationError(
            f"frozen tensors changed in {run_dir}: {', '.join(what[:5])}{' ...' if len(what) > 5 else ''} "
            f"({len(what)} in all; see {run_dir / TRANSFER_JSON})"
        )
    return result


def _final_metrics(run_dir: Path) -> dict[str, float]:
    csv = run_dir / "results.csv"
    if not csv.exists():
        return {}
    import csv as csvmod

    rows = list(csvmod.DictReader(csv.read_text().splitlines()))
    if not rows:
        return {}
    last = {k.strip(): v for k, v in rows[-1].items()}
    out = {}
    for k, v in last.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out
