"""`yolo-transfer compare`: a thin click face over `yolo_transfer.compare`."""

from __future__ import annotations

import click

from yolo_transfer.errors import UserError
from yolo_transfer.weights import DEFAULT_MODEL


@click.command("compare", context_settings={"ignore_unknown_options": True})
@click.option("--data", required=True, help="Dataset YAML (Ultralytics YOLO layout) with train and val splits.")
@click.option("--model", "--weights", "model", default=DEFAULT_MODEL, show_default=True,
              help="Checkpoint (COCO-pretrained) or Ultralytics name to start every trial from.")
@click.option("--presets", default="frozen-backbone,full", show_default=True,
              help="Comma-separated transfer presets to compare (at least two; see `yolo-transfer presets`); "
                   "`+keep-<method>` keeps the checkpoint's classes (full+keep-distill, head-only+keep-exact).")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Equal epochs per trial.")
@click.option("--budget-minutes", type=float, default=None,
              help="Equal wall time per trial (training loop; Ultralytics fits the epochs and lr schedule to it).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2 (the spread decides ties).")
@click.option("--fractions", default="1.0", show_default=True,
              help="Comma-separated fractions of the training set, e.g. 0.25,0.5,1.0 (nested, seeded subsets).")
@click.option("--imgsz", default=640, show_default=True, type=click.IntRange(32))
@click.option("--batch", default=16, show_default=True, type=int)
@click.option("--device", default=None, help="cpu, 0, ... (default: Ultralytics' choice).")
@click.option("--project", default="runs", show_default=True)
@click.option("--name", default="compare", show_default=True, help="Compare folder; rerun the same command to resume it.")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="ray: trials in parallel on Ray Tune (an existing cluster, or a local Ray).")
@click.option("--ray-address", default=None, help="Existing Ray cluster (default: RAY_ADDRESS or a local Ray).")
@click.option("--presets-file", type=click.Path(), default=None, help="YAML file with your own presets.")
@click.option("--retention-data", type=click.Path(), default=None,
              help="A dataset labelled with the checkpoint's classes (e.g. coco128.yaml): each trial's retention of "
                   "them, a sixth axis.")
@click.option("--replay", type=click.Path(), default=None,
              help="Source-domain images for `+keep-distill` trials (e.g. --presets full,full+keep-distill).")
@click.option("--wait", is_flag=True, help="If another process is running this comparison, wait for it to finish "
                                           "(then resume it) instead of stopping.")
@click.option("--verbose", is_flag=True, help="Show Ultralytics' per-epoch output.")
@click.option("--quiet/--no-quiet", "quiet_flag", default=None,
              help="A line per epoch of each trial; warnings to log.txt in the compare folder (default when stdout is "
                   "not a terminal).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def compare_cmd(data, model, presets, epochs, budget_minutes, seeds, fractions, imgsz, batch, device, project, name,
                engine, ray_address, presets_file, retention_data, replay, wait, verbose, quiet_flag, extra):
    """Compare transfer presets on your data under one budget: accuracy, data needs, compute, scope, overfitting.

    Any Ultralytics training argument passes through to every trial as key=value (e.g. workers=4 lr0=0.005).
    Prints one table and the winner; writes summary.json/csv and report.md/html into the compare folder.
    """
    from yolo_transfer.comparison.api import compare
    from yolo_transfer.comparison.plan import OWN
    from yolo_transfer.cli.train import _parse_extra

    import os
    from pathlib import Path

    from yolo_transfer.utils.console import epoch_line, is_quiet, quiet
    from yolo_transfer.utils.io import check_folder_path

    check_folder_path(project, "--project")  # the log below starts there, before compare() checks it
    q_on = is_quiet(quiet_flag, verbose)
    try:
        # beside the compare folder until compare has checked its input (bad input leaves no folder), then into it
        with quiet(Path(project) / f".compare-{os.getpid()}.log" if q_on else None) as q:
            result = compare(model, data, presets=presets, epochs=epochs, budget_minutes=budget_minutes,
                             seeds=seeds, fractions=fractions, imgsz=imgsz, batch=batch, device=device,
                             project=project, name=name, engine=engine, ray_address=ray_address, verbose=verbose,
                             presets_file=presets_file, wait=wait, retention_data=retention_data, replay=replay,
                             echo=q.echo if q_on else click.echo,
                             callbacks={"on_fit_epoch_end": epoch_line(q.echo, "      ")} if q_on else None,
                             **_parse_extra(extra, OWN))
            q.move_log(result.dir)
    except KeyboardInterrupt:
        click.echo("\nInterrupted; rerun the same command to resume (finished trials are kept).", err=True)
        raise SystemExit(130)
    click.echo("\n" + result.table)
    w = result.winner
    click.echo(f"\nwinner: {w.preset} ({w.id}, mAP50-95 {w.score:.4f}, {w.seconds:.0f} s) - {result.how.get('reason')}"
               if w else f"\nno winner: {result.how.get('reason')}")
    click.echo(f"rule: {result.rule}")
    click.echo(f"report: {result.files['report.html']} (+ report.md, summary.json, summary.csv)")
    failed = [t for t in result.trials if not t.ok]
    if failed and not w:
        raise UserError(f"all {len(failed)} trials failed; see {result.files['summary.json']}")
