"""`yolo-transfer export` and `yolo-transfer benchmark`: thin faces over `export` and `benchmark_models`."""

from __future__ import annotations

import click

from yolo_transfer.cli.schema import click_options, console_options
from yolo_transfer.options import ExportOptions
from yolo_transfer.runtimes import EXPORT_NAMES as FORMAT_NAMES  # noqa: F401 - the formats --format takes
from yolo_transfer.runtimes import RUN_PRECISIONS


@click.command("export")
@click.argument("model")
@click_options(ExportOptions)
@click.option("--half", is_flag=True, hidden=True, help="Same as --quantize 16.")
@click.option("--int8", is_flag=True, hidden=True, help="Same as --quantize 8.")
@console_options()
def export_cmd(model, half, int8, quiet_flag, verbose, **options) -> None:
    """Export MODEL (.pt) for deployment and prove the export gives the same boxes (parity gate).

    Writes the export beside the checkpoint plus <export>.parity.json/.md/.png. Exits 1 when the gate fails,
    2 on bad input. A .pt loads restricted (no code from the file runs); --trust-checkpoint for a vetted one.
    """
    from pathlib import Path

    from yolo_transfer.errors import UserError
    from yolo_transfer.exporter.api import run_export
    from yolo_transfer.utils.console import is_quiet, quiet

    if half and int8:
        raise UserError("--half and --int8 are exclusive: pick one precision (--quantize 16 or 8)")
    opts = ExportOptions(**options)
    if half or int8:  # Ultralytics' deprecated spellings of quantize=
        opts = opts.replace(quantize=8 if int8 else 16)
    log = Path(opts.out_dir or Path(model).parent) / "export.log" if is_quiet(quiet_flag, verbose) else None
    with quiet(log):
        result = run_export(model, opts)
    meta = result.metadata
    click.echo(f"Exported {result.path} ({result.format}, {result.precision.upper()}, {result.head} head, imgsz "
               f"{meta['imgsz']}, {'dynamic' if meta['dynamic'] else 'static'}) in {result.seconds:.1f}s")
    for note in result.notes:
        click.echo(note)
    if result.parity is not None:
        result.raise_for_parity()
        click.echo(f"{result.parity.summary()}; report: {result.parity_path}")


@click.command("benchmark")
@click.argument("models", nargs=-1, required=True)
@click.option("--imgsz", type=int, default=640, show_default=True)
@click.option("--batch-sizes", default="1,4,8", show_default=True, help="Comma-separated model-only batch sizes.")
@click.option("--images", type=click.Path(), help="Images for end-to-end timing (default: Ultralytics' samples).")
@click.option("--runs", type=int, default=10, show_default=True, help="Timed repetitions per measurement.")
@click.option("--out", type=click.Path(), help="Write the results as JSON (and a .md table beside it).")
@click.option("--precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Run OpenVINO models at this precision (e.g. bf16) instead of the one they were built at.")
def benchmark_cmd(models, imgsz, batch_sizes, images, runs, out, precision) -> None:
    """Latency and throughput of MODELS (.pt, .onnx, *_openvino_model, .engine): model-only per batch size and
    end-to-end per image, as a table (and JSON with --out)."""
    from yolo_transfer.errors import UserError
    from yolo_transfer.exporter.benchmark import benchmark_models

    try:
        sizes = [int(b) for b in batch_sizes.split(",") if b.strip()]
    except ValueError:
        raise UserError(f"--batch-sizes '{batch_sizes}': expected comma-separated integers like 1,4,8") from None
    report = benchmark_models(models, imgsz=imgsz, batch_sizes=sizes, images=images, runs=runs, out=out,
                              precision=precision)
    click.echo(report.to_markdown(), nl=False)
    if out:
        click.echo(f"Wrote {out}")
