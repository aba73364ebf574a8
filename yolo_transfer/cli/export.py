"""`yolo-transfer export` and `yolo-transfer benchmark`: thin faces over `export` and `benchmark_models`."""

from __future__ import annotations

import click

from yolo_transfer.runtimes import EXPORT_NAMES as FORMAT_NAMES  # the runtime table (light import)
from yolo_transfer.runtimes import RUN_PRECISIONS


@click.command("export")
@click.argument("model")
@click.option("--format", "fmt", default="onnx", show_default=True, metavar="|".join(FORMAT_NAMES),
              help="Target runtime: onnx, openvino, or engine (TensorRT, needs an NVIDIA GPU).")
@click.option("--quantize", type=click.Choice(["32", "16", "8"]), default="32", show_default=True,
              help="Precision, as Ultralytics 8.4 names it: 32 FP32, 16 FP16 (looser parity thresholds), 8 INT8 "
                   "calibrated on --data's images (loosest).")
@click.option("--half", is_flag=True, hidden=True, help="Same as --quantize 16.")
@click.option("--int8", is_flag=True, hidden=True, help="Same as --quantize 8.")
@click.option("--end2end", is_flag=True,
              help="Export YOLO26's NMS-free one-to-one head (Ultralytics' nms=False); the gate runs the .pt with "
                   "that head too. Default: the one-to-many head + NMS, as `yolo export` and .pt predictions.")
@click.option("--data", type=click.Path(), help="data.yaml: INT8 calibration, parity images and the mAP check.")
@click.option("--dynamic/--static", default=None,
              help="Dynamic input shapes (default for onnx/openvino: boxes match the .pt's rectangular letterbox) "
                   "or a fixed square input (default for engine).")
@click.option("--batch", type=int, default=1, show_default=True, help="Batch size (the fixed batch when static).")
@click.option("--imgsz", type=int, help="Input size (default: the size the checkpoint was trained at).")
@click.option("--nms", is_flag=True, help="Put NMS inside the exported graph (one-to-many head, output (B, N, 6)).")
@click.option("--conf", type=float, default=0.25, show_default=True,
              help="With --nms: score threshold baked into the graph (boxes below it are dropped).")
@click.option("--iou", type=float, default=0.7, show_default=True, help="With --nms: NMS IoU baked into the graph.")
@click.option("--parity/--no-parity", default=True, show_default=True, help="Run the parity gate.")
@click.option("--parity-images", type=click.Path(), help="Image folder for the gate (default: --data val images, "
                                                         "else Ultralytics' sample images).")
@click.option("--parity-conf", type=float, default=0.25, show_default=True,
              help="Boxes scoring at least this on either side must match.")
@click.option("--parity-max-images", type=int, default=32, show_default=True)
@click.option("--runtime-precision", type=click.Choice(RUN_PRECISIONS), default=None,
              help="Gate the export run at this precision instead of the one it claims: bf16 for OpenVINO on CPUs "
                   "with AVX512-bf16/AMX (faster, judged with the BF16 thresholds).")
@click.option("--out-dir", type=click.Path(), help="Where to write the export (default: beside the checkpoint).")
@click.option("--device", default=None, help="Device to export and gate on (default: the format's own: cpu for onnx and "
                                             "openvino, 0 for engine).")
@click.option("--quiet/--no-quiet", "quiet_flag", default=None,
              help="Ultralytics' exporter log to <export dir>/export.log (default when stdout is not a terminal).")
@click.option("--verbose", is_flag=True, help="Ultralytics' own output on the terminal (overrides --quiet).")
def export_cmd(model, fmt, quantize, half, int8, end2end, data, dynamic, batch, imgsz, nms, conf, iou, parity, parity_images,
               parity_conf, parity_max_images, runtime_precision, out_dir, device, quiet_flag, verbose) -> None:
    """Export MODEL (.pt) for deployment and prove the export gives the same boxes (parity gate).

    Writes the export beside the checkpoint plus <export>.parity.json/.md/.png. Exits 1 when the gate fails,
    2 on bad input. Loading a .pt runs pickle: only export checkpoints you trust.
    """
    from pathlib import Path

    from yolo_transfer.errors import UserError
    from yolo_transfer.exporter.api import export
    from yolo_transfer.utils.console import is_quiet, quiet

    if half and int8:
        raise UserError("--half and --int8 are exclusive: pick one precision (--quantize 16 or 8)")
    q = 8 if int8 else 16 if half else int(quantize)
    log = Path(out_dir or Path(model).parent) / "export.log" if is_quiet(quiet_flag, verbose) else None
    with quiet(log):
        result = export(model, fmt, quantize=q, end2end=end2end, data=data, dynamic=dynamic, batch=batch, imgsz=imgsz,
                        nms=nms, conf=conf, iou=iou, parity=parity, parity_images=parity_images,
                        parity_conf=parity_conf, parity_max_images=parity_max_images, out_dir=out_dir, device=device,
                        runtime_precision=runtime_precision)
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
