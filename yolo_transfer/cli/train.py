"""CLI faces of training: `train`, `inspect`, `presets`."""

from __future__ import annotations

from pathlib import Path

import click

from yolo_transfer.errors import UserError
from yolo_transfer.weights import DEFAULT_MODEL


# Ultralytics arguments the commands set from their own options: a key=value for one of them would collide with (or
# be silently replaced by) that option, so it is refused with the option to use instead
OWN = {"data": "--data", "model": "--model", "weights": "--model", "epochs": "--epochs", "imgsz": "--imgsz",
       "batch": "--batch", "device": "--device", "seed": "--seed", "project": "--project", "name": "--name",
       "resume": "--resume", "preset": "--preset", "freeze": "--preset (e.g. freeze:10)", "bn_policy": "--bn-policy",
       "class_map": "--class-map", "presets_file": "--presets-file", "engine": "--engine",
       "ray_address": "--ray-address", "exist_ok": None, "callbacks": None}


def _parse_extra(extra: tuple[str, ...], own: dict[str, str | None] = OWN) -> dict:
    """`key=value` pass-through to Ultralytics, values parsed as YAML scalars (0.01, true, [0, 1])."""
    import yaml

    out = {}
    for tok in extra:
        key, sep, value = tok.partition("=")
        if not sep or not key:
            raise UserError(f"extra argument '{tok}' must be key=value (any Ultralytics training argument, e.g. lr0=0.01)")
        key = key.lstrip("-")
        if key in own:
            how = own[key] or "yolo-transfer itself (runs never overwrite)"
            raise UserError(f"'{tok}': {key} is set by {how}" + ("; use that option instead" if how[:2] == "--" else ""))
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


@click.command("train", context_settings={"ignore_unknown_options": True})
@click.option("--data", required=False, help="Dataset YAML (Ultralytics YOLO layout).")
@click.option("--model", "--weights", "model", default=DEFAULT_MODEL, show_default=True,
              help="Checkpoint path, Ultralytics name (yolo26n.pt, yolo11n.pt, yolov8s.pt) or architecture YAML.")
@click.option("--preset", default="frozen-backbone", show_default=True,
              help="Transfer preset; see `yolo-transfer presets`. `auto` (or auto:a,b,c) tries "
                   "frozen-backbone, full and progressive (recommend's pick first) by successive halving and "
                   "finishes the best, for at most 1.5x the epochs (or --budget-minutes) of one run (needs >= 6 epochs, or a "
                   "budget that fits >= 3; report in auto.md).")
@click.option("--epochs", default=50, show_default=True, type=click.IntRange(1))
@click.option("--budget-minutes", type=float, default=None,
              help="Wall-clock budget for the training loop (Ultralytics' time=, refits epochs and lr schedule to it; "
                   "with --preset auto the probes take shares of it, ~1.5x in all).")
@click.option("--imgsz", default=640, show_default=True, type=click.IntRange(32))
@click.option("--batch", default=16, show_default=True, type=int)
@click.option("--device", default=None, help="cpu, 0, or 0,1 for multi-GPU DDP (default: Ultralytics' choice).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--project", default="runs", show_default=True, help="Folder for run folders.")
@click.option("--name", default="train", show_default=True, help="Run folder name (never overwritten: -2, -3 ...).")
@click.option("--bn-policy", default="frozen", show_default=True, type=click.Choice(["frozen", "train", "freeze"]),
              help="frozen: BN stats fixed in frozen layers; train: all BN update; freeze: no BN updates.")
@click.option("--class-map", type=click.Path(), default=None, help="YAML of target_class: source_class for renamed classes.")
@click.option("--presets-file", type=click.Path(), default=None, help="YAML file with your own presets.")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="With --preset auto: ray runs the probes in parallel on Ray Tune with its ASHA scheduler "
                   "(one GPU per probe on a cluster).")
@click.option("--ray-address", default=None, help="Existing Ray cluster for --engine ray (default: RAY_ADDRESS or a local Ray).")
@click.option("--resume", "resume", default=None, type=click.Path(), help="Resume an interrupted run folder with the same plan.")
@click.option("--keep-classes", is_flag=True,
              help="Keep the checkpoint's classes and add the dataset's: one model, one names table (a dataset class "
                   "named like a checkpoint class is that class).")
@click.option("--keep-method", type=click.Choice(["exact", "distill", "plain"]), default="exact", show_default=True,
              help="exact: the checkpoint's outputs unchanged (verified); the new classes train a copy of what "
                   "--preset trains (the neck on frozen-backbone) and new class branches; distill: the backbone may "
                   "train, old classes kept by pseudo-labels (+ --replay); plain: no protection.")
@click.option("--retention-data", type=click.Path(), default=None,
              help="A dataset labelled with the checkpoint's classes (e.g. coco128.yaml): records the source "
                   "classes' mAP before and after training (retention).")
@click.option("--replay", type=click.Path(), default=None,
              help="With --keep-method distill: a source-domain dataset whose train images join the training set.")
@click.option("--wait", is_flag=True, help="With --resume: if another process is writing that folder, wait for it to "
                                           "finish instead of stopping.")
@click.option("--quiet/--no-quiet", "quiet_flag", default=None,
              help="A line per epoch; Ultralytics' log to log.txt in the run folder (default when stdout is not a terminal).")
@click.option("--verbose", is_flag=True, help="Ultralytics' own output on the terminal (overrides --quiet).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def train_cmd(data, model, preset, epochs, budget_minutes, imgsz, batch, device, seed, project, name, bn_policy, class_map,
              presets_file, engine, ray_address, resume, keep_classes, keep_method, retention_data, replay, wait,
              quiet_flag, verbose, extra):
    """Fine-tune a COCO-pretrained detector with a named transfer preset.

    Any other Ultralytics training argument passes through as key=value (e.g. lr0=0.005 mosaic=0.5 workers=4).
    """
    from yolo_transfer.transfer import train

    if not resume and not data:
        raise UserError("--data is required (a dataset YAML), unless you --resume a run")
    import os
    from pathlib import Path

    from yolo_transfer.utils.console import is_quiet, preset_prefix, quiet, quiet_callbacks
    from yolo_transfer.utils.io import check_folder_path

    check_folder_path(project, "--project")  # the log below starts there, before train() checks it
    extra_kw = _parse_extra(extra)
    q_on = is_quiet(quiet_flag, verbose)
    from yolo_transfer.strategy.auto.state import is_auto_run

    is_auto = str(preset).startswith("auto") or bool(resume and is_auto_run(resume))
    # the run folder is named by Ultralytics when training starts: log beside it first, moved into it then
    log = Path(project) / f".train-{os.getpid()}.log" if q_on else None
    try:
        with quiet(log) as q:
            result = train(model, data, preset=preset, epochs=epochs, budget_minutes=budget_minutes, imgsz=imgsz,
                           batch=batch, device=device, seed=seed, project=project, name=name, bn_policy=bn_policy,
                           class_map=class_map, presets_file=presets_file, resume=resume, engine=engine,
                           ray_address=ray_address, wait=wait, keep_classes=keep_classes, keep_method=keep_method,
                           retention_data=retention_data, replay=replay,
                           callbacks=quiet_callbacks(q, preset_prefix if is_auto else ""),
                           **extra_kw)
    except KeyboardInterrupt as e:
        run_dir, auto_dir = getattr(e, "run_dir", None), getattr(e, "auto_dir", None)
        if auto_dir is not None:  # auto goes on from its own folder (its probes so far are in auto.json)
            click.echo(f"\nInterrupted; continue with: yolo-transfer train --resume {auto_dir}", err=True)
            raise SystemExit(130)
        if run_dir is None:
            raise
        click.echo(f"\nInterrupted; continue with: yolo-transfer train --resume {run_dir}", err=True)
        raise SystemExit(130)
    _summary(result)
    if result.auto is not None:
        from yolo_transfer.strategy.auto.report import summary_lines

        for line in summary_lines(result.auto, result.auto_dir):
            click.echo(line)
    if q_on:
        click.echo(f"Ultralytics' log: {q.log_file}")
    result.raise_for_status()  # verification failed: exit 3; crashed in the training loop: exit 1


def _summary(result) -> None:
    r = result.record
    m = result.metrics
    click.echo(f"\nrun folder: {result.run_dir}")
    if r.status == "failed":
        return
    click.echo(f"preset {r.preset}: {r.params['total']['trained_at_some_stage']:,} of "
               f"{r.params['total']['total']:,} parameters trained")
    if result.verified:
        click.echo(f"frozen tensors verified bit-identical: {r.verification['checked_tensors']} checked, 0 changed")
    if r.keep:
        k = r.keep
        new = k["names"][len(k["source_names"]):]
        check = k.get("old_outputs")
        click.echo(f"keep-classes ({k['method']}): {len(k['source_names'])} checkpoint classes + {len(new)} new "
                   f"({', '.join(new[:5])}{' ...' if len(new) > 5 else ''})"
                   + (f"; old-class outputs bit-identical on {check['images']} images" if check and check["ok"] else ""))
    if r.retention.get("before") is not None:
        t = r.retention
        click.echo(f"retention on {Path(t['data']).name}: source classes' mAP50-95 {t['before']:.4f} -> {t['after']:.4f}"
                   f" ({t['retention']:.0%})" + (f"; new classes {t['new_classes_map50_95']:.4f}"
                                                   if t.get("new_classes_map50_95") is not None else ""))
    if "metrics/mAP50-95(B)" in m:
        click.echo(f"mAP50-95 {m['metrics/mAP50-95(B)']:.4f}  mAP50 {m['metrics/mAP50(B)']:.4f} (last epoch)"
                   f"  {result.seconds:.0f} s, peak memory {result.peak_memory_mb:,.0f} MB")
    click.echo(f"weights: {result.best}\nrecord: {result.run_dir / 'transfer.json'} (+ transfer.md)")


@click.command("inspect")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect_cmd(model, as_json):
    """Show MODEL's layers split into backbone / neck / head (from its own YAML), with parameter counts."""
    from yolo_transfer.anatomy import inspect
    from yolo_transfer.utils.io import to_json

    anatomy = inspect(model)
    if as_json:
        click.echo(to_json({"layers": [vars(l) for l in anatomy.layers], **anatomy.to_dict()}), nl=False)
        return
    click.echo(f"{'layer':>5}  {'module':<14} {'part':<9} {'params':>12}")
    for l in anatomy.layers:
        click.echo(f"{l.index:>5}  {l.module:<14} {l.part:<9} {l.params:>12,}")
    total = sum(anatomy.params_per_part().values())
    click.echo("")
    for part, n in anatomy.params_per_part().items():
        idx = anatomy.indices(part)
        click.echo(f"{part:<9} layers {idx[0]:>2}-{idx[-1]:<2} {n:>12,} params ({100 * n / max(total, 1):.1f}%)")
    click.echo(f"{'total':<9} {'':>12} {total:>12,} params")


@click.command("presets")
@click.argument("model", required=False)
@click.option("--epochs", default=50, show_default=True, help="Epochs assumed for staged presets.")
@click.option("--presets-file", type=click.Path(), default=None)
def presets_cmd(model, epochs, presets_file):
    """List transfer presets; with MODEL, show what each freezes on it and how many parameters train."""
    from yolo_transfer.presets import available, describe

    if not model:
        for name, summary in available(presets_file).items():
            click.echo(f"{name:<16} {summary}")
        return
    from yolo_transfer.anatomy import inspect

    click.echo(f"{'preset':<18} {'frozen at start':<24} {'trainable params':>17}  stages")
    for row in describe(inspect(model), epochs=epochs, presets_file=presets_file):
        click.echo(f"{row.spec:<18} {row.frozen_at_start:<24} {row.trainable_params:>10,} "
                   f"({100 * row.trainable_fraction:4.1f}%)  {row.stages}")
