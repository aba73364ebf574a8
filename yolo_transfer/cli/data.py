"""`yolo-transfer data convert|check|split|stats`: each command calls one function and prints its report."""

from __future__ import annotations

from pathlib import Path

import click

_path = click.Path(path_type=Path)


@click.group("data")
def data() -> None:
    """Convert, check, split and describe datasets."""


@data.command("convert")
@click.argument("source", type=_path)
@click.argument("output", type=_path)
@click.option("--format", "fmt", default=None, help="Source format: voc, cvat, labelme or coco (default: detected).")
@click.option("--classes", default=None, help="Comma-separated class names in id order (default: discovered; "
                                              "VOC sorted by name, COCO by category id). Others are skipped.")
@click.option("--link", is_flag=True, help="Symlink images instead of copying them.")
@click.option("--drop-difficult", is_flag=True, help="Drop VOC objects marked difficult (default: keep).")
@click.option("--keep-crowd", is_flag=True, help="Keep COCO iscrowd regions as boxes (default: skip).")
@click.option("--allow-outside", multiple=True, type=click.Path(file_okay=False),
              help="A folder outside SOURCE its annotations may name images in (repeatable; default: none).")
def convert_cmd(source, output, fmt, classes, link, drop_difficult, keep_crowd, allow_outside) -> None:
    """Convert Pascal VOC (any layout), CVAT XML, LabelMe JSON or COCO JSON at SOURCE into a YOLO dataset at OUTPUT.

    Writes OUTPUT/data.yaml (trains as is), classes.json and conversion.json/.md listing every fix.
    """
    from yolo_transfer.data.convert import convert

    names = [c for c in classes.split(",")] if classes else None
    report = convert(source, output, fmt=fmt, classes=names, link=link, drop_difficult=drop_difficult,
                     keep_crowd=keep_crowd, allow_outside=allow_outside)
    click.echo("\n".join(report.summary_lines()))


@data.command("check")
@click.argument("data_yaml", type=_path)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--max-distance", default=None, type=click.IntRange(0, 64),
              help="Perceptual-hash bits (of 64) within which two images are near-duplicate candidates [12].")
@click.option("--min-similarity", default=None, type=click.FloatRange(-1, 1),
              help="Aligned detail similarity that confirms a candidate as a near-duplicate [0.90].")
@click.option("--no-dedup", is_flag=True, help="Skip the cross-split near-duplicate search.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64), help="Decoding threads.")
@click.pass_context
def check_cmd(ctx, data_yaml, as_json, max_distance, min_similarity, no_dedup, workers) -> None:
    """Check DATA_YAML: errors (exit 1) and warnings, each with file:line."""
    from yolo_transfer.data.check import check_dataset
    from yolo_transfer.data.dedup import DEFAULT_MAX_DISTANCE, MIN_SIMILARITY
    from yolo_transfer.utils.io import to_json

    report = check_dataset(data_yaml, near_duplicates=not no_dedup, workers=workers,
                           max_distance=DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
                           min_similarity=MIN_SIMILARITY if min_similarity is None else min_similarity)
    click.echo(to_json(report.to_dict()) if as_json else report.to_text(), nl=not as_json)
    ctx.exit(0 if report.ok else 1)


@data.command("split")
@click.argument("data_yaml", type=_path)
@click.argument("output", type=_path)
@click.option("--ratios", default="0.8,0.2", show_default=True, help="train,val[,test] fractions summing to 1.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--link", is_flag=True, help="Symlink images instead of copying them.")
@click.option("--max-distance", default=None, type=click.IntRange(0, 64),
              help="Perceptual-hash bits within which images are near-duplicate candidates [12].")
@click.option("--min-similarity", default=None, type=click.FloatRange(-1, 1),
              help="Aligned detail similarity that confirms a candidate; confirmed groups stay in one split [0.90].")
def split_cmd(data_yaml, output, ratios, seed, link, max_distance, min_similarity) -> None:
    """Pool all images of DATA_YAML and re-split them into a new dataset at OUTPUT (stratified by class presence,
    near-duplicates kept in one split)."""
    from yolo_transfer.data.dedup import DEFAULT_MAX_DISTANCE, MIN_SIMILARITY
    from yolo_transfer.data.split import split_dataset

    report = split_dataset(data_yaml, output, ratios=ratios, seed=seed, link=link,
                           max_distance=DEFAULT_MAX_DISTANCE if max_distance is None else max_distance,
                           min_similarity=MIN_SIMILARITY if min_similarity is None else min_similarity)
    click.echo("\n".join(report.summary_lines()))


@data.command("stats")
@click.argument("data_yaml", type=_path)
@click.option("--out", type=_path, default=None,
              help="Folder for stats.json/.md and PNG plots [runs/data-stats/<dataset folder>].")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON instead of a table.")
def stats_cmd(data_yaml, out, as_json) -> None:
    """Describe DATA_YAML: instances per class, boxes per image, box and image sizes (table + PNG plots)."""
    from yolo_transfer.data.stats import dataset_stats
    from yolo_transfer.utils.io import to_json

    if out is None:
        from yolo_transfer.data.yolo_layout import load_data_yaml, resolve_data_yaml

        data_yaml = resolve_data_yaml(data_yaml)  # a name such as coco8.yaml: its folder is under DATASETS_DIR
        folder = load_data_yaml(data_yaml).root
        out = Path("runs") / "data-stats" / folder.name
    report = dataset_stats(data_yaml, out=out)
    if as_json:
        click.echo(to_json(report.to_dict()), nl=False)
    else:
        click.echo(report.to_text())
        click.echo(f"plots and report: {out}")
