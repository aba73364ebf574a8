"""`yolo-transfer predict`: a thin face over `yolo_transfer.inference.api.predict`."""

from __future__ import annotations

import click

from yolo_transfer.cli.schema import click_options
from yolo_transfer.options import PredictOptions


@click.command("predict")
@click.argument("model", type=click.Path(path_type=str))
@click.argument("source", type=str)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder; rerunning with the same folder resumes where the last run stopped.")
@click_options(PredictOptions)
def predict_cmd(model, source, out, **options) -> None:
    """Run MODEL (.pt, .onnx, .engine, *_openvino_model) over SOURCE (a folder, searched recursively; a glob; a
    .txt list of paths; or one image) and write one result per image to --out.

    Unreadable images are listed in errors.jsonl with the reason and the run goes on (unless --strict).
    A .pt loads restricted (no code from the file runs); --trust-checkpoint for a vetted one.
    """
    from yolo_transfer.inference.api import run_predict

    s = run_predict(model, source, out, PredictOptions(**options))
    resumed = s.this_session.get("resumed_from", 0)
    w = s.settings.get("window")
    if w:
        click.echo(f"images above 8 bits read through the window {w['low']:g},{w['high']:g} ({w['source']})")
    click.echo(f"{s.processed} images with results, {s.errors} errors, {s.detections} detections"
               f"{f' (resumed after {resumed})' if resumed else ''}; "
               f"{s.images_per_second:.1f} images/s -> {s.out}/summary.md")
