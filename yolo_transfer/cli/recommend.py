"""`yolo-transfer recommend`: a thin click face over `yolo_transfer.strategy.recommend.recommend`."""

from __future__ import annotations

import click

from yolo_transfer.cli.schema import click_options
from yolo_transfer.options import LoadOptions
from yolo_transfer.weights import DEFAULT_MODEL


@click.command("recommend")
@click.option("--data", required=True, help="Dataset YAML (YOLO layout).")
@click.option("--model", "--weights", "model", default=DEFAULT_MODEL, show_default=True,
              help="The checkpoint (.pt) you will fine-tune.")
@click.option("--budget-minutes", type=float, default=None, help="Wall-clock budget for training.")
@click.option("--device", default=None, help="cpu or a GPU index for the domain measurement.")
@click.option("--reference", type=click.Path(), default=None,
              help="Folder of the checkpoint's kind of images (e.g. COCO) to put the domain distance to scale.")
@click.option("--images", default=200, show_default=True, type=int, help="Images sampled for the domain distance.")
@click.option("--imgsz", default=None, type=int, help="Input size (default: the checkpoint's training size).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch", default=16, show_default=True, type=int, help="Training batch size (for the budget's epochs).")
@click.option("--json", "as_json", is_flag=True, help='Print {"preset", "reasons", "facts"} as JSON.')
@click_options(LoadOptions)
def recommend_cmd(data, model, budget_minutes, device, reference, images, imgsz, seed, batch, as_json,
                  trust_checkpoint):
    """Recommend a transfer preset before training, from facts measured on your data and the checkpoint."""
    from yolo_transfer.strategy.recommend import recommend, render_text
    from yolo_transfer.utils.io import to_json

    rec = recommend(model, data, budget_minutes=budget_minutes, device=device, reference=reference,
                    images=images, imgsz=imgsz, seed=seed, batch=batch, trust_checkpoint=trust_checkpoint)
    click.echo(to_json(rec.to_dict()) if as_json else render_text(rec))
