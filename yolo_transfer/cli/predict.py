"""`yolo-transfer predict`: a thin face over `yolo_transfer.inference.api.predict`."""

from __future__ import annotations

import click

from yolo_transfer.inference.backends import BACKENDS
from yolo_transfer.inference.writers import WRITERS


@click.command("predict")
@click.argument("model", type=click.Path(path_type=str))
@click.argument("source", type=str)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder; rerunning with the same folder resumes where the last run stopped.")
@click.option("--format", "formats", default="jsonl", show_default=True,
              help=f"Comma-separated outputs: {', '.join(WRITERS)}.")
@click.option("--batch", type=int, default=None,
              help="Most images per model call: dynamic models batch images of the same letterboxed shape, static "
                   "ones take their fixed batch (default: 1 for ONNX on CPU, measured fastest per MB; else 8).")
@click.option("--imgsz", type=int, default=None, help="Model input size (default: the model's own).")
@click.option("--conf", default=0.25, show_default=True, help="Minimum confidence.")
@click.option("--iou", default=0.7, show_default=True, help="NMS IoU threshold.")
@click.option("--max-det", default=300, show_default=True, help="Most boxes per image.")
@click.option("--classes", default=None, help="Keep only these class ids, e.g. 0,2.")
@click.option("--device", default=None, help="cpu, 0, cuda:1 ... (default: first GPU if any, else CPU).")
@click.option("--end2end/--no-end2end", default=None,
              help="A YOLO26 .pt: run its NMS-free one-to-one head (default: the one-to-many head + NMS, as "
                   "Ultralytics and a default export do). An export runs the head it was built with.")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default=None,
              help="Compute at this precision where the runtime offers the choice (fp16: a .pt on CUDA; OpenVINO: bf16 "
                   "on CPUs with bf16, ~1.9x faster here, own parity thresholds); default: as the model was built.")
@click.option("--workers", type=int, default=None, help="Decode threads (default: half the CPU cores, at most 8).")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default=None,
              help="Force a backend (default: from the WEIGHTS suffix).")
@click.option("--tile", is_flag=True, help="Slice images larger than the model input into overlapping tiles.")
@click.option("--tile-overlap", default=0.2, show_default=True, help="Overlap between neighbouring tiles.")
@click.option("--strict", is_flag=True, help="Stop with an error at the first unreadable image.")
@click.option("--overwrite", is_flag=True, help="Start over instead of resuming a run in --out.")
@click.option("--wait", is_flag=True, help="If another run is writing --out, wait for it to finish instead of stopping.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: run on Ray Data (pip install 'yolo-transfer[distributed]').")
@click.option("--ray-address", default=None, help="Existing Ray cluster (default: RAY_ADDRESS or a local Ray).")
@click.option("--ray-actors", type=int, default=None, help="Model actors (default: one per GPU, else 1).")
def predict_cmd(model, source, out, formats, batch, imgsz, conf, iou, max_det, classes, device, end2end, precision, workers,
                backend, tile, tile_overlap, strict, overwrite, wait, engine, ray_address, ray_actors) -> None:
    """Run MODEL (.pt, .onnx, .engine, *_openvino_model) over SOURCE (a folder, searched recursively; a glob; a
    .txt list of paths; or one image) and write one result per image to --out.

    Unreadable images are listed in errors.jsonl with the reason and the run goes on (unless --strict).
    Loading a .pt runs pickle: only use checkpoints you trust.
    """
    from yolo_transfer.errors import UserError
    from yolo_transfer.inference.api import predict

    try:
        class_ids = [int(c) for c in classes.split(",") if c.strip()] if classes else None
    except ValueError:
        raise UserError(f"--classes {classes}: give comma-separated class ids, e.g. 0,2") from None
    s = predict(model, source, out, backend=backend, imgsz=imgsz, batch=batch, conf=conf, iou=iou,
                max_det=max_det, classes=class_ids, device=device, end2end=end2end, precision=precision, workers=workers,
                formats=formats,
                tile=tile, tile_overlap=tile_overlap, strict=strict, overwrite=overwrite, engine=engine,
                ray_address=ray_address, ray_actors=ray_actors, wait=wait)
    resumed = s.this_session.get("resumed_from", 0)
    click.echo(f"{s.processed} images with results, {s.errors} errors, {s.detections} detections"
               f"{f' (resumed after {resumed})' if resumed else ''}; "
               f"{s.images_per_second:.1f} images/s -> {s.out}/summary.md")
