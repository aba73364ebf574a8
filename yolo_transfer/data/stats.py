"""Describe a YOLO dataset: instances per class, boxes per image, box sizes, image sizes.

Printed as a table and saved as `stats.json`, `stats.md` and PNG plots (matplotlib, Agg backend). Box sizes are in
pixels of the original image, bucketed like COCO (small < 32^2 px, medium < 96^2, large), since that is what decides
whether objects survive resizing to the training size. Image sizes come from file headers (no decoding).
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from yolo_transfer.data.images import image_size
from yolo_transfer.data.yolo_layout import load_data_yaml, read_labels, resolve_data_yaml
from yolo_transfer.utils.imageread import measure
from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from yolo_transfer.utils.plots import pyplot
from yolo_transfer.utils.progress import progress

SIZE_BUCKETS = (("small", 0, 32**2), ("medium", 32**2, 96**2), ("large", 96**2, float("inf")))


@dataclass
class SplitStats:
    images: int = 0
    background_images: int = 0
    unreadable_images: int = 0
    instances: dict[str, int] = field(default_factory=dict)
    boxes_per_image: dict[str, float] = field(default_factory=dict)  # min / mean / median / max
    box_size_px: dict[str, int] = field(default_factory=dict)  # COCO-style buckets of sqrt(area)
    box_wh_norm: dict[str, float] = field(default_factory=dict)  # median normalised width / height
    image_sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> count, most common first
    pixels: dict = field(default_factory=dict)  # bit depth and value range of up to 64 images (utils.imageread)


@dataclass
class StatsReport:
    data_yaml: str
    names: list[str]
    splits: dict[str, SplitStats] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)
    # raw per-box / per-image values for the plots (not in the JSON)
    _raw: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "_raw"}

    def to_text(self) -> str:
        splits = list(self.splits)
        header = ["", *splits]
        rows = [["images", *(self.splits[s].images for s in splits)],
                ["  background", *(self.splits[s].background_images for s in splits)]]
        rows += [[f"  {c}", *(self.splits[s].instances[c] for s in splits)] for c in self.names]
        rows += [[f"boxes/image {k}", *(self.splits[s].boxes_per_image[k] for s in splits)]
                 for k in ("min", "mean", "median", "max")]
        rows += [[f"box {b[0]} (px)", *(self.splits[s].box_size_px[b[0]] for s in splits)] for b in SIZE_BUCKETS]
        rows += [[f"median box {k} (norm)", *(self.splits[s].box_wh_norm[k] for s in splits)]
                 for k in ("width", "height")]
        rows += [["image sizes", *(", ".join(f"{k} x{v}" for k, v in list(self.splits[s].image_sizes.items())[:3])
                                   for s in splits)]]
        rows += [["bit depth (values)", *(_depth_text(self.splits[s].pixels) for s in splits)]]
        rows.insert(2, ["instances:", *[""] * len(splits)])
        table = [header] + [[str(round(v, 2)) if isinstance(v, float) else str(v) for v in r] for r in rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines = ["  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
                 for r in table]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        md = [f"# Dataset statistics: `{self.data_yaml}`", "", "```", *self.to_text().splitlines(), "```", ""]
        md += [f"![{Path(p).stem}]({Path(p).name})" for p in self.plots]
        return "\n".join(md) + "\n"


def dataset_stats(data_yaml: str | Path, out: str | Path | None = None,
                  show_progress: bool | None = None) -> StatsReport:
    """Compute the statistics; with `out`, also write stats.json, stats.md and the PNG plots there."""
    spec = load_data_yaml(resolve_data_yaml(data_yaml)).require_ok()
    report = StatsReport(str(spec.yaml_path), spec.names)
    nc = len(spec.names)
    for split in spec.splits:
        images = spec.require_images(split)
        st = SplitStats(images=len(images))
        counts, per_image, wh_norm, area_px, sizes = Counter(), [], [], [], Counter()
        for img in progress(images, desc=f"stats {split}", unit="img",
                            disable=None if show_progress is None else not show_progress):
            rows, _ = read_labels(img, nc)  # invalid lines are `check`'s business; count what trains
            rows = rows if rows is not None else np.zeros((0, 6))
            try:
                w, h = image_size(img)
            except OSError:
                st.unreadable_images += 1
                continue
            sizes[f"{w}x{h}"] += 1
            per_image.append(len(rows))
            st.background_images += not len(rows)
            counts.update(int(c) for c in rows[:, 0])
            wh_norm += rows[:, 3:5].tolist()
            area_px += (rows[:, 3] * w * rows[:, 4] * h).tolist()
        per = np.asarray(per_image or [0])
        st.instances = {n: counts[i] for i, n in enumerate(spec.names)}
        st.boxes_per_image = {"min": int(per.min()), "mean": float(per.mean()), "median": float(np.median(per)),
                              "max": int(per.max())}
        areas = np.asarray(area_px)
        st.box_size_px = {name: int(((areas >= lo) & (areas < hi)).sum()) for name, lo, hi in SIZE_BUCKETS}
        whn = np.asarray(wh_norm).reshape(-1, 2)
        st.box_wh_norm = {k: float(np.median(whn[:, i])) if len(whn) else 0.0 for i, k in enumerate(("width", "height"))}
        st.image_sizes = dict(sizes.most_common())
        st.pixels = _pixels(images)
        report.splits[split] = st
        report._raw[split] = {"per_image": per, "wh": whn, "area": areas, "sizes": sizes}
    if out is not None:
        out = Path(out)
        report.plots = [str(p) for p in _plots(report, out)]
        atomic_write_json(out / "stats.json", report.to_dict())
        atomic_write_text(out / "stats.md", report.to_markdown())
    return report


def _pixels(images: list[Path]) -> dict:
    d = measure(images, sample=64)
    if d is None:
        return {}
    return {"bits": d.bits, "min": d.vmin, "max": d.vmax, "used_bits": d.used_bits, "sampled": d.images,
            "window_auto": None if d.window is None else str(d.window)}


def _depth_text(p: dict) -> str:
    return f"{p['bits']}-bit ({p['min']:g}-{p['max']:g})" if p else "-"


def _save(fig, legend, path: Path) -> Path:
    """Write the figure, with `legend` (an axes) drawn, as a PNG and close it."""
    legend.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    pyplot().close(fig)
    return path


def _plots(report: StatsReport, out: Path) -> list[Path]:
    plt = pyplot()
    splits = list(report.splits)
    paths = []
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(report.names) + 3), 4))
    x = np.arange(len(report.names))
    width = 0.8 / max(1, len(splits))
    for k, s in enumerate(splits):
        ax.bar(x + k * width, [report.splits[s].instances[c] for c in report.names], width, label=s)
    ax.set_xticks(x + width * (len(splits) - 1) / 2, report.names, rotation=30, ha="right")
    ax.set(ylabel="instances", title="Instances per class")
    paths.append(_save(fig, ax, out / "class_instances.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    top = max(int(report._raw[s]["per_image"].max()) for s in splits)
    for s in splits:
        ax.hist(report._raw[s]["per_image"], bins=np.arange(top + 2) - 0.5, alpha=0.6, label=s)
    ax.set(xlabel="boxes per image", ylabel="images", title="Boxes per image")
    paths.append(_save(fig, ax, out / "boxes_per_image.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s in splits:
        wh, area = report._raw[s]["wh"], report._raw[s]["area"]
        axes[0].scatter(wh[:, 0], wh[:, 1], s=3, alpha=0.4, label=s)
        if len(area):
            axes[1].hist(np.sqrt(area), bins=40, alpha=0.6, label=s)
    for _, lo, _ in SIZE_BUCKETS[1:]:
        axes[1].axvline(np.sqrt(lo), color="grey", linestyle="--", linewidth=1)
    axes[0].set(xlabel="width (fraction of image)", ylabel="height (fraction of image)", title="Box shapes",
                xlim=(0, 1), ylim=(0, 1))
    axes[1].set(xlabel="sqrt(box area) in pixels (lines: COCO small/medium/large)", ylabel="boxes",
                title="Box sizes")
    paths.append(_save(fig, axes[0], out / "box_sizes.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in splits:
        sizes = report._raw[s]["sizes"]
        if sizes:
            wh = np.array([[int(v) for v in k.split("x")] for k in sizes])
            ax.scatter(wh[:, 0], wh[:, 1], s=[10 + 5 * sizes[k] ** 0.5 for k in sizes], alpha=0.5, label=s)
    ax.set(xlabel="width (px)", ylabel="height (px)", title="Image sizes (marker size ~ count)")
    paths.append(_save(fig, ax, out / "image_sizes.png"))
    return paths
