"""`yolo-transfer compare`: a thin click face over `yolo_transfer.compare`."""

from __future__ import annotations

import click

from yolo_transfer.cli.schema import click_options, console_options, model_option
from yolo_transfer.errors import UserError
from yolo_transfer.options import CompareOptions


@click.command("compare", context_settings={"ignore_unknown_options": True})
@click.option("--data", required=True, help="Dataset YAML (Ultralytics YOLO layout) with train and val splits.")
@model_option("Checkpoint (COCO-pretrained) or Ultralytics name to start every trial from.")
@click_options(CompareOptions)
@console_options(verbose=False)  # --verbose is compare's own option (CompareOptions.verbose)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def compare_cmd(data, model, quiet_flag, extra, **options):
    """Compare transfer presets on your data under one budget: accuracy, data needs, compute, scope, overfitting.

    Any Ultralytics training argument passes through to every trial as key=value (e.g. workers=4 lr0=0.005).
    Prints one table and the winner; writes summary.json/csv and report.md/html into the compare folder.
    """
    import os
    from pathlib import Path

    from yolo_transfer.cli.train import _parse_extra
    from yolo_transfer.comparison.api import run_compare
    from yolo_transfer.comparison.plan import OWN
    from yolo_transfer.utils.console import epoch_line, is_quiet, quiet
    from yolo_transfer.utils.io import check_folder_path

    opts = CompareOptions(**options)
    check_folder_path(opts.project, "--project")  # the log below starts there, before compare() checks it
    q_on = is_quiet(quiet_flag, opts.verbose)
    # beside the compare folder until compare has checked its input (bad input leaves no folder), then into it
    with quiet(Path(opts.project) / f".compare-{os.getpid()}.log" if q_on else None) as q:
        opts = opts.replace(echo=q.echo if q_on else click.echo,
                            callbacks={"on_fit_epoch_end": epoch_line(q.echo, "      ")} if q_on else None)
        result = run_compare(model, data, opts, _parse_extra(extra, OWN))
        q.move_log(result.dir)
    click.echo("\n" + result.table)
    w = result.winner
    click.echo(f"\nwinner: {w.preset} ({w.id}, mAP50-95 {w.score:.4f}, {w.seconds:.0f} s) - {result.how.get('reason')}"
               if w else f"\nno winner: {result.how.get('reason')}")
    click.echo(f"rule: {result.rule}")
    click.echo(f"report: {result.files['report.html']} (+ report.md, summary.json, summary.csv)")
    failed = [t for t in result.trials if not t.ok]
    if failed and not w:
        raise UserError(f"all {len(failed)} trials failed; see {result.files['summary.json']}")
