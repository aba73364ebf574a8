"""`yolo-transfer demo`: a thin click face over `yolo_transfer.demo.run_demo`."""

from __future__ import annotations

import click

from yolo_transfer.options import CONF
from yolo_transfer.weights import DEFAULT_MODEL


@click.command("demo")
@click.option("--model", "--weights", "model", default=DEFAULT_MODEL, show_default=True,
              help="COCO checkpoint to start from when it is at hand ($YOLO_TRANSFER_WEIGHTS, Ultralytics' weights "
                   "folder, or downloaded); offline without it, the project's own cached source model.")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(1), help="Epochs per strategy (same for all).")
@click.option("--imgsz", default=128, show_default=True, type=click.IntRange(32))
@click.option("--project", default="runs", show_default=True)
@click.option("--conf", default=CONF, show_default=True, type=click.FloatRange(0, 1),
              help="Score threshold of the batch inference at the end.")
@click.option("--verbose", is_flag=True, help="Show Ultralytics' own output instead of writing it to log.txt.")
def demo_cmd(model, epochs, imgsz, project, conf, verbose):
    """Transfer learning in five minutes on a CPU, offline: generate a defect dataset, compare frozen-backbone vs
    full fine-tuning vs training from scratch at the same budget, export the winner through the parity gate and
    run batch inference with it."""
    from yolo_transfer.demo import run_demo

    run_demo(model=model, epochs=epochs, imgsz=imgsz, project=project, conf=conf, verbose=verbose)
