"""Convert an annotated dataset (any registered format) into the Ultralytics YOLO layout, and report every fix.

Readers only parse; the fixing rules live here, once, for every format:
- the real image size wins over the annotation's (counted as `size_mismatch`);
- boxes reaching outside the image are clipped (`clipped`), boxes with no area left are skipped;
- exact duplicates (same class, same box) are skipped, as Ultralytics would drop them anyway;
- VOC `difficult` objects are kept unless asked (`difficult_kept` / `difficult_dropped`);
- COCO `iscrowd` regions are skipped unless asked (`crowd_skipped`).
The output folder is built under a temporary name and appears only when complete, with `data.yaml`,
`classes.json`, and the report as `conversion.json` + `conversion.md`. The source is only read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from yolo_transfer.data.annotations import Fix, SourceImage
from yolo_transfer.data.coco import CocoFormat
from yolo_transfer.data.images import image_size
from yolo_transfer.data.paths import allowed_folders
from yolo_transfer.data.tools import CvatFormat, LabelmeFormat
from yolo_transfer.data.voc import VocFormat
from yolo_transfer.data.yolo_layout import SPLITS, YoloWriter, format_box
from yolo_transfer.errors import UserError
from yolo_transfer.utils.io import atomic_dir, atomic_write_json, atomic_write_text
from yolo_transfer.utils.progress import progress

# Detection order matters: a LabelMe JSON is also JSON, so COCO (any JSON) is tried last.
FORMATS = {f.name: f for f in (VocFormat(), CvatFormat(), LabelmeFormat(), CocoFormat())}

# Every kind of fix, with what it means; the Markdown report explains each count with these words.
FIX_KINDS = {
    "clipped": "box reached outside the image: clipped to the image (kept)",
    "zero_area_skipped": "box with no width or height (after clipping): skipped",
    "duplicate_skipped": "same class and same box as an earlier one in the image: skipped",
    "size_mismatch": "annotation's image size differs from the real image: the real size was used",
    "crowd_skipped": "COCO iscrowd=1 region: skipped (keep with --keep-crowd)",
    "difficult_dropped": "VOC difficult=1 object: dropped (because of --drop-difficult)",
    "unlisted_class_skipped": "class not in the given class list: skipped",
    "malformed_box_skipped": "box without a class or with unusable coordinates: skipped",
    "orphan_annotation_skipped": "annotation whose image is not in the file or missing on disk: skipped",
    "unreadable_image_skipped": "image file that cannot be opened: skipped with its boxes",
    "missing_image_skipped": "annotation refers to an image file that does not exist: skipped",
    "unlisted_image_skipped": "annotation not listed in any split list: skipped",
    "unannotated_image_skipped": "image without an annotation file: skipped",
    "unreadable_annotation_skipped": "annotation file that does not parse: skipped",
    "renamed": "another image in the split already had this name: written under a new name",
    "filename_mismatch": "VOC <filename> names no existing image: paired by the XML's own name instead (kept)",
    "ambiguous_image_skipped": "several images fit this annotation equally well: skipped rather than guessed",
    "duplicate_annotation_skipped": "a second annotation file for an image that already has one: skipped",
    "unsupported_shape_skipped": "shape read as no box (LabelMe point/line/circle; CVAT polygon/points/ellipse/mask): "
                                 "skipped",
}


@dataclass
class ConversionReport:
    source: str
    format: str
    output: str
    classes: list[str]
    class_order: str
    link: bool
    images: dict[str, int] = field(default_factory=dict)
    background_images: dict[str, int] = field(default_factory=dict)
    source_boxes: dict[str, int] = field(default_factory=dict)  # every box read, by class, before any fix
    boxes: dict[str, dict[str, int]] = field(default_factory=dict)  # written: split -> class -> count
    skipped_boxes: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> kind -> count
    fix_counts: dict[str, int] = field(default_factory=dict)
    difficult_kept: int = 0
    warnings: list[str] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)

    @property
    def data_yaml(self) -> Path:
        return Path(self.output) / "data.yaml"

    def written_per_class(self) -> dict[str, int]:
        return {c: sum(per_class.get(c, 0) for per_class in self.boxes.values()) for c in self.classes}

    def to_dict(self) -> dict:
        return {**asdict(self), "data_yaml": str(self.data_yaml)}

    def summary_lines(self) -> list[str]:
        imgs = ", ".join(f"{s} {n}" for s, n in self.images.items())
        written, read = sum(self.written_per_class().values()), sum(self.source_boxes.values())
        lines = [f"Converted {self.format.upper()} {self.source} -> {self.output}",
                 f"  images: {imgs}; boxes written: {written} of {read} read",
                 f"  classes: {', '.join(f'{i}={n}' for i, n in enumerate(self.classes))} ({self.class_order})"]
        if self.fix_counts:
            lines.append("  fixes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.fix_counts.items())))
        if self.difficult_kept:
            lines.append(f"  difficult objects kept: {self.difficult_kept}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines.append(f"  data.yaml: {self.data_yaml}   report: {Path(self.output) / 'conversion.md'}")
        return lines

    def to_markdown(self, max_listed: int = 200) -> str:
        out = [f"# Conversion report: {Path(self.source).name}", "",
               f"- source: `{self.source}` ({self.format.upper()})",
               f"- output: `{self.output}` (images {'linked' if self.link else 'copied'})",
               f"- class order: {self.class_order}", ""]
        out += [f"> **Warning:** {w}" for w in self.warnings] + ([""] if self.warnings else [])
        splits = list(self.boxes)
        out += ["## Boxes per class", "", "| id | class | read from source | skipped | " + " | ".join(
            f"written: {s}" for s in splits) + " |", "|---|---|---|---|" + "---|" * len(splits)]
        for i, c in enumerate(self.classes):
            out.append(f"| {i} | {c} | {self.source_boxes.get(c, 0)} | {sum(self.skipped_boxes.get(c, {}).values())}"
                       f" | " + " | ".join(str(self.boxes[s].get(c, 0)) for s in splits) + " |")
        out += ["", "## Images", "", "| split | images | background (no boxes) |", "|---|---|---|"]
        out += [f"| {s} | {n} | {self.background_images.get(s, 0)} |" for s, n in self.images.items()]
        out += ["", "## Fixes", ""]
        if not self.fix_counts:
            out.append("None: every box and image was used as is.")
        else:
            out += ["| fix | count | meaning |", "|---|---|---|"]
            out += [f"| {k} | {v} | {FIX_KINDS.get(k, '')} |" for k, v in sorted(self.fix_counts.items())]
            out += ["", "### Where", ""]
            out += [f"- `{f.location()}` {f.kind}: {f.detail}" for f in self.fixes[:max_listed]]
            if len(self.fixes) > max_listed:
                out.append(f"- ... and {len(self.fixes) - max_listed} more (all listed in conversion.json)")
        if self.difficult_kept:
            out += ["", f"VOC `difficult` objects kept as normal boxes: {self.difficult_kept}."]
        return "\n".join(out) + "\n"


class _Fixer:
    """Applies the fixing rules to one image's boxes and records what it did."""

    def __init__(self, report: ConversionReport, index: dict[str, int], drop_difficult: bool, keep_crowd: bool):
        self.report, self.index = report, index
        self.drop_difficult, self.keep_crowd = drop_difficult, keep_crowd
        self.counts: Counter[str] = Counter()
        self.skipped: dict[str, Counter[str]] = defaultdict(Counter)

    def fix(self, kind: str, file: str, line: int | None, detail: str, cls: str | None = None) -> None:
        self.counts[kind] += 1
        self.report.fixes.append(Fix(kind, file, line, detail))
        if cls is not None and (kind.endswith("_skipped") or kind == "difficult_dropped"):
            self.skipped[cls][kind] += 1

    def lines(self, item: SourceImage, w: int, h: int) -> list[str]:
        out, seen = [], set()
        for b in item.boxes:
            where = f"{b.ref}: " if b.ref else ""
            desc = f"{where}{b.name} ({b.x1:g}, {b.y1:g}, {b.x2:g}, {b.y2:g})"
            if b.crowd and not self.keep_crowd:
                self.fix("crowd_skipped", b.file, b.line, desc, b.name)
                continue
            if b.difficult:
                if self.drop_difficult:
                    self.fix("difficult_dropped", b.file, b.line, desc, b.name)
                    continue
                self.report.difficult_kept += 1
            if b.name not in self.index:
                self.fix("unlisted_class_skipped", b.file, b.line, desc, b.name)
                continue
            x1, y1, x2, y2 = min(max(b.x1, 0), w), min(max(b.y1, 0), h), min(max(b.x2, 0), w), min(max(b.y2, 0), h)
            if x2 <= x1 or y2 <= y1:
                self.fix("zero_area_skipped", b.file, b.line, desc, b.name)
                continue
            if (x1, y1, x2, y2) != (b.x1, b.y1, b.x2, b.y2):
                self.fix("clipped", b.file, b.line, f"{desc} -> ({x1:g}, {y1:g}, {x2:g}, {y2:g}) in {w}x{h}")
            line = format_box(self.index[b.name], x1, y1, x2, y2, w, h)
            if line in seen:
                self.fix("duplicate_skipped", b.file, b.line, desc, b.name)
                continue
            seen.add(line)
            out.append(line)
            self.report.boxes.setdefault(item.split, Counter())[b.name] += 1
        return out


def detect_format(source: Path) -> str:
    for name, fmt in FORMATS.items():
        if fmt.detect(source):
            return name
    raise UserError(f"{source}: cannot tell the annotation format; pass --format ({', '.join(FORMATS)})")


def convert(source: str | Path, output: str | Path, fmt: str | None = None, classes: Sequence[str] | None = None,
            link: bool = False, drop_difficult: bool = False, keep_crowd: bool = False,
            show_progress: bool | None = None, allow_outside: Sequence[str | Path] = ()) -> ConversionReport:
    """Convert `source` (a Pascal VOC folder in any layout, a COCO JSON file or folder, a CVAT XML export or a LabelMe
    JSON folder; `fmt` picks one when detection is ambiguous) into a new YOLO dataset folder at `output`.

    `classes` fixes the class order (default: discovered; VOC sorted by name, COCO by category id); `link` symlinks
    images instead of copying; VOC `difficult` objects are kept unless `drop_difficult`; COCO `iscrowd` regions are
    skipped unless `keep_crowd`. An image path that leaves the source folder is refused (`data.paths`) unless it
    is under a folder of `allow_outside`. Every fix (clipped boxes, skipped objects and images) is listed in the returned report
    and in `conversion.json` / `conversion.md`; the output is built in a temporary folder and appears only when whole.
    """
    source, output = Path(source), Path(output)
    if not source.exists():
        raise UserError(f"{source}: source dataset not found; pass a VOC, CVAT or LabelMe folder or a COCO JSON "
                        f"file/folder")
    if output.exists():
        raise UserError(f"{output} already exists; choose a new output folder (conversion never overwrites)")
    if output.resolve().is_relative_to(source.resolve()) and source.is_dir():
        raise UserError(f"{output} is inside the source {source}; write the converted dataset somewhere else")
    name = fmt or detect_format(source)
    if name not in FORMATS:
        raise UserError(f"unknown format '{name}'; choose one of: {', '.join(FORMATS)}")
    read = FORMATS[name].read(source, allowed_folders(allow_outside))
    names = [str(c).strip() for c in classes] if classes else read.class_names
    if classes and (len(set(names)) != len(names) or not all(names)):
        raise UserError(f"--classes has empty or repeated names: {', '.join(names)}")
    order = "given explicitly (--classes)" if classes else read.order
    if not names:
        raise UserError(f"{source}: no classes found (no annotated boxes); pass --classes to set them")
    report = ConversionReport(str(source), name, str(output), names, order, link)
    report.fixes += read.fixes
    fixer = _Fixer(report, {n: i for i, n in enumerate(names)}, drop_difficult, keep_crowd)
    fixer.counts.update(f.kind for f in read.fixes)
    source_boxes: Counter[str] = Counter(b.name for item in read.images for b in item.boxes)
    report.source_boxes = dict(sorted(source_boxes.items(), key=lambda kv: (kv[0] not in names, kv[0])))

    with atomic_dir(output) as tmp:
        writer = YoloWriter(tmp, link=link)
        for item in progress(read.images, desc=f"converting {name.upper()}", unit="img",
                             disable=None if show_progress is None else not show_progress):
            try:
                w, h = image_size(item.path)
            except OSError as e:
                fixer.fix("unreadable_image_skipped", item.annotation_file, item.annotation_line,
                          f"{item.path.name}: {e}")
                for b in item.boxes:
                    fixer.skipped[b.name]["unreadable_image_skipped"] += 1
                continue
            if item.declared_size and item.declared_size != (w, h):
                fixer.fix("size_mismatch", item.annotation_file, item.annotation_line,
                          f"{item.rel}: annotation says {item.declared_size[0]}x{item.declared_size[1]}, image is "
                          f"{w}x{h}")
            lines = fixer.lines(item, w, h)
            rel = writer.unique_name(item.split, item.rel, prefix=item.split)
            if rel != item.rel:
                fixer.fix("renamed", item.annotation_file, item.annotation_line, f"{item.rel} -> {rel}")
            writer.add(item.split, item.path, rel, lines)
        report.fix_counts = dict(sorted(fixer.counts.items()))
        report.skipped_boxes = {c: dict(k) for c, k in sorted(fixer.skipped.items())}
        report.images = {s: writer.images[s] for s in SPLITS if writer.images[s]}
        report.background_images = {s: writer.backgrounds[s] for s in report.images}
        report.boxes = {s: {c: report.boxes.get(s, {}).get(c, 0) for c in names} for s in report.images}
        if "train" not in report.images:
            report.warnings.append("the source has no training split, so data.yaml has no 'train' entry (fine for "
                                   "`yolo val`; to train, convert a training set too or use `yolo-transfer data split`)")
        elif "val" not in report.images:
            report.warnings.append("the source has no validation split, so data.yaml validates on "
                                   f"{'test' if 'test' in report.images else 'train'} images; make a real one with "
                                   "`yolo-transfer data split`")
        writer.finish(names, order)
        atomic_write_json(tmp / "conversion.json", report.to_dict())
        atomic_write_text(tmp / "conversion.md", report.to_markdown())
    return report
