"""`yolo-transfer demo`: a thin click face over `yolo_transfer.demo.run_demo`."""

from __future__ import annotations

import click

from yolo_transfer.cli.schema import click_options, model_option
from yolo_transfer.options import DemoOptions


@click.command("demo")
@model_option("COCO checkpoint to start from when it is at hand ($YOLO_TRANSFER_WEIGHTS, Ultralytics' weights "
              "folder, or downloaded); offline without it, the project's own cached source model.")
@click_options(DemoOptions)
def demo_cmd(model, **options):
    """Transfer learning in five minutes on a CPU, offline: generate a defect dataset, compare frozen-backbone vs
    full fine-tuning vs training from scratch at the same budget, export the winner through the parity gate and
    run batch inference with it."""
    from yolo_transfer.demo import run_demo

    run_demo(model, DemoOptions(**options))
