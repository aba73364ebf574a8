"""Labelling-tool exports read through `globox` (LabelMe JSON, CVAT for images XML), fixed and written by convert.py.

Why globox: it reads LabelMe, CVAT, VIA, OpenImages, VOC, COCO and YOLO into one small box type, is pure Python
(about 3 MB) and maintained; `datumaro` pulls dozens of heavy packages, `supervision` reads only COCO, VOC and YOLO.
It is optional: without it these two formats fail in one line saying how to install it. Our own rules stay on top:
splits from folder names, images found on disk, every fix counted in conversion.md.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

from yolo_transfer.data.annotations import Fix, SourceBox, SourceImage, SourceSet
from yolo_transfer.data.paths import Containment
from yolo_transfer.data.voc import split_of, split_word, visible_files
from yolo_transfer.data.yolo_layout import is_image, safe_relpath
from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import head_bytes

INSTALL = "pip install globox  (or pip install 'yolo-transfer[formats]')"


def _globox(fmt: str):
    try:
        import globox
    except ImportError:
        raise UserError(f"reading {fmt} needs the globox package, which is not installed; {INSTALL}") from None
    return globox


def _items(ann, image: Path, rel: PurePosixPath, split: str, ref_file: str) -> SourceImage:
    item = SourceImage(split, image, rel, ref_file, None, tuple(ann.image_size) if ann.image_size else None)
    for b in ann.boxes:
        item.boxes.append(SourceBox(str(b.label), b.xmin, b.ymin, b.xmax, b.ymax, file=ref_file,
                                    ref=f"image {ann.image_id}"))
    return item


def _claim(used: dict[Path, str], image: Path, ref: str, fixes: list[Fix], root: Path) -> bool:
    """One annotation file per image (the first in sorted order); a second one is reported, not merged or written
    twice."""
    if image in used:
        rel = image.relative_to(root) if image.is_relative_to(root) else image
        fixes.append(Fix("duplicate_annotation_skipped", ref, None, f"{rel} is already annotated by {used[image]}"))
        return False
    used[image] = ref
    return True


def _finish(images: list[SourceImage], fixes: list[Fix], src: Path, used: dict[Path, str], what: str) -> SourceSet:
    root = src if src.is_dir() else src.parent
    fixes += [Fix("unannotated_image_skipped", str(p.relative_to(root)), None, f"no {what} annotation names it")
              for p in visible_files(root) if is_image(p) and p not in used]
    names = sorted({b.name for i in images for b in i.boxes}, key=lambda s: (s.lower(), s))
    return SourceSet(images, names, f"labels found in the {what} files, sorted alphabetically (case-insensitive)",
                     fixes)


class LabelmeFormat:
    name = "labelme"
    description = "LabelMe: one JSON per image (rectangles; polygons become their bounding box), beside the images"

    @staticmethod
    def _is_labelme(p: Path) -> bool:
        head = head_bytes(p, 1 << 22)  # one read: "shapes" near the top, "imagePath" after a long shapes list
        return p.suffix.lower() == ".json" and b'"shapes"' in head[:8192] and b'"imagePath"' in head

    def detect(self, src: Path) -> bool:
        return self._is_labelme(src) if src.is_file() else any(map(self._is_labelme, visible_files(src, "*.json")))

    def read(self, src: Path, allow: tuple[Path, ...] = ()) -> SourceSet:
        globox = _globox("LabelMe JSON")
        root = src if src.is_dir() else src.parent
        contain = Containment(root, allow)
        jsons = [p for p in ([src] if src.is_file() else visible_files(src, "*.json")) if self._is_labelme(p)]
        images, fixes, used = [], [], {}
        for js in jsons:
            rel_js = str(js.relative_to(root))
            try:
                ann = globox.Annotation.from_labelme(js, include_poly=True)
            except Exception as e:  # globox.ParsingError and friends: the file is reported, the rest converts
                fixes.append(Fix("unreadable_annotation_skipped", rel_js, None, f"not a readable LabelMe file ({e})"))
                continue
            try:  # globox reads rectangles and polygons; other shapes are counted here so none vanish unreported
                other = [s.get("shape_type") for s in json.loads(js.read_text(encoding="utf-8")).get("shapes", [])
                         if s.get("shape_type") not in ("rectangle", "polygon")]
            except (ValueError, AttributeError):
                other = []
            fixes += [Fix("unsupported_shape_skipped", rel_js, None, f"{ann.image_id}: a '{t}' shape is not a box")
                      for t in other]
            image = contain.resolve(js.parent, str(ann.image_id), rel_js)  # LabelMe writes ..\\x.jpg
            if image is None:
                continue
            if not image.is_file():
                image = next((c for c in sorted(js.parent.glob(f"{js.stem}.*")) if is_image(c)), image)
            if not image.is_file():
                fixes.append(Fix("missing_image_skipped", rel_js, None, f"image '{ann.image_id}' not found"))
                continue
            if _claim(used, image, rel_js, fixes, root):
                images.append(_items(ann, image, safe_relpath(image.name), split_of(js, root) or "train", rel_js))
        contain.raise_if_refused()
        if not images and not fixes:
            raise UserError(f"{src}: no LabelMe JSON files (with 'shapes' and 'imagePath') found")
        return _finish(images, fixes, src, used, "LabelMe")


class CvatFormat:
    name = "cvat"
    description = "CVAT for images 1.1: one annotations.xml (<annotations> with <image><box>), images beside it"

    @staticmethod
    def _is_cvat(p: Path) -> bool:
        head = re.sub(rb"<\?.*?\?>|<!--.*?-->", b"", head_bytes(p), flags=re.S).lstrip()
        return p.suffix.lower() == ".xml" and head.startswith(b"<annotations") and b"<image" in head_bytes(p, 1 << 20)

    def _files(self, src: Path) -> list[Path]:
        return [src] if src.is_file() else [p for p in visible_files(src, "*.xml") if self._is_cvat(p)]

    def detect(self, src: Path) -> bool:
        return bool(self._files(src)) if src.is_dir() else self._is_cvat(src)

    def read(self, src: Path, allow: tuple[Path, ...] = ()) -> SourceSet:
        globox = _globox("CVAT XML")
        root = src if src.is_dir() else src.parent
        contain = Containment(root, allow)
        images, fixes, used = [], [], {}
        for xml in self._files(src):
            rel_xml = str(xml.relative_to(root))
            try:
                anns = globox.AnnotationSet.from_cvat(xml)
            except Exception as e:
                raise UserError(f"{xml}: not a readable CVAT for images XML ({e}); re-export it from CVAT") from None
            for node in ET.parse(xml).getroot().iter("image"):  # globox reads <box>; count the other shapes
                fixes += [Fix("unsupported_shape_skipped", rel_xml, None, f"{node.get('name')}: a <{c.tag}> is not a "
                              f"box") for c in node if c.tag in ("polygon", "polyline", "points", "ellipse", "mask",
                                                                 "cuboid", "skeleton")]
            dirs = [xml.parent, xml.parent / "images", root, root / "images"]
            for ann in sorted(anns, key=lambda a: str(a.image_id)):
                name = str(ann.image_id).replace("\\", "/")
                image = contain.find(name, dirs, rel_xml)
                if image is None:
                    fixes.append(Fix("missing_image_skipped", rel_xml, None, f"image '{name}' not found"))
                    continue
                if not _claim(used, image, rel_xml, fixes, root):
                    continue
                folder = PurePosixPath(name).parent.as_posix() if "/" in name else ""
                split = split_word(folder) or split_of(xml, root) or "train"
                images.append(_items(ann, image, safe_relpath(PurePosixPath(name).name), split, rel_xml))
        contain.raise_if_refused()
        return _finish(images, fixes, src, used, "CVAT")
