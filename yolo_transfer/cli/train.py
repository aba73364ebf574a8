"""CLI faces of training: `train`, `inspect`, `presets`."""

from __future__ import annotations

from pathlib import Path

import click

from yolo_transfer.cli.schema import click_options, console_options, model_option
from yolo_transfer.errors import UserError
from yolo_transfer.options import METRIC, METRIC50, LoadOptions, TrainOptions
from yolo_transfer.presets import parse_preset


# Ultralytics arguments the command sets from its own options: a key=value for one of them would collide with (or
# be silently replaced by) that option, so it is refused with the option to use instead
OWN = TrainOptions.own(data="--data", model="--model", weights="--model", freeze="--preset (e.g. freeze:10)",
                       exist_ok=None)


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
@model_option()
@click_options(TrainOptions)
@console_options()
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def train_cmd(data, model, quiet_flag, verbose, extra, **options):
    """Fine-tune a COCO-pretrained detector with a named transfer preset.

    Any other Ultralytics training argument passes through as key=value (e.g. lr0=0.005 mosaic=0.5 workers=4).
    """
    import os

    from yolo_transfer.strategy.auto.state import is_auto_run
    from yolo_transfer.transfer import run_train
    from yolo_transfer.utils.console import is_quiet, preset_prefix, quiet, quiet_callbacks
    from yolo_transfer.utils.io import check_folder_path

    opts = TrainOptions(**options)
    if not opts.resume and not data:
        raise UserError("--data is required (a dataset YAML), unless you --resume a run")
    check_folder_path(opts.project, "--project")  # the log below starts there, before train() checks it
    extra_kw = _parse_extra(extra)
    q_on = is_quiet(quiet_flag, verbose)
    is_auto = parse_preset(opts.preset).auto or bool(opts.resume and is_auto_run(opts.resume))
    # the run folder is named by Ultralytics when training starts: log beside it first, moved into it then
    log = Path(opts.project) / f".train-{os.getpid()}.log" if q_on else None
    with quiet(log) as q:
        opts = opts.replace(callbacks=quiet_callbacks(q, preset_prefix if is_auto else ""))
        result = run_train(model, data, opts, extra_kw)
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
    if METRIC in m:
        click.echo(f"mAP50-95 {m[METRIC]:.4f}  mAP50 {m[METRIC50]:.4f} (last epoch)"
                   f"  {result.seconds:.0f} s, peak memory {result.peak_memory_mb:,.0f} MB")
    click.echo(f"weights: {result.best}\nrecord: {result.run_dir / 'transfer.json'} (+ transfer.md)")


def _scan_lines(scan) -> list[str]:
    """The globals a checkpoint references, by module (`--json` lists each), the unexpected ones by name."""
    from collections import Counter

    allowed = Counter(g.split(".", 1)[0] for g in scan.globals if g not in scan.unexpected)
    verdict = ("all allowed: it loads restricted (no code from it runs)" if scan.passes else
               f"{len(scan.unexpected) or 'some'} outside the allow-list: refused")
    return [f"checkpoint: {len(scan.globals)} globals referenced, {verdict}",
            "  allowed: " + ", ".join(f"{m} {n}" for m, n in allowed.most_common()),
            *[f"  not allowed: {g}" for g in scan.unexpected], ""]


@click.command("inspect")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click_options(LoadOptions)
def inspect_cmd(model, as_json, trust_checkpoint):
    """Show MODEL's layers split into backbone / neck / head (from its own YAML), with parameter counts, and for a
    checkpoint the globals its pickle references and whether it passes the restricted loader."""
    from yolo_transfer.anatomy import inspect
    from yolo_transfer.safeload import UnsafeCheckpoint, scan
    from yolo_transfer.utils.io import to_json

    found = scan(model) if Path(model).suffix in (".pt", ".pth") and Path(model).is_file() else None
    if found is not None and not as_json:
        click.echo("\n".join(_scan_lines(found)))
    if found is not None and not found.passes and not trust_checkpoint:
        if as_json:
            click.echo(to_json({"checkpoint": found.to_dict()}), nl=False)
        raise UnsafeCheckpoint(found.error)
    anatomy = inspect(model, trust_checkpoint=trust_checkpoint)
    if as_json:
        click.echo(to_json({"layers": [vars(l) for l in anatomy.layers], **anatomy.to_dict(),
                            **({"checkpoint": found.to_dict()} if found else {})}), nl=False)
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
@click_options(LoadOptions)
def presets_cmd(model, epochs, presets_file, trust_checkpoint):
    """List transfer presets; with MODEL, show what each freezes on it and how many parameters train."""
    from yolo_transfer.presets import available, describe

    if not model:
        for name, summary in available(presets_file).items():
            click.echo(f"{name:<16} {summary}")
        return
    from yolo_transfer.anatomy import inspect

    click.echo(f"{'preset':<18} {'frozen at start':<24} {'trainable params':>17}  stages")
    for row in describe(inspect(model, trust_checkpoint=trust_checkpoint), epochs=epochs, presets_file=presets_file):
        click.echo(f"{row.spec:<18} {row.frozen_at_start:<24} {row.trainable_params:>10,} "
                   f"({100 * row.trainable_fraction:4.1f}%)  {row.stages}")
