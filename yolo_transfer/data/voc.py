"""Pascal VOC reader: `Annotations/*.xml` + `JPEGImages/` (+ `ImageSets/Main/{train,val,test}.txt`), or XML files
lying beside their images (LabelImg's default).

XML is parsed with expat directly so every object keeps its line number for the conversion report. Coordinates
are read as pixel edges (xmin..xmax), as modern tools write them. Class order: names sorted alphabetically
(case-insensitive), so the same set of names always gets the same ids whatever order the files list them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from yolo_transfer.data.annotations import Fix, SourceBox, SourceImage, SourceSet
from yolo_transfer.data.yolo_layout import SPLIT_ALIASES, is_image, safe_relpath
from yolo_transfer.errors import UserError


@dataclass
class _Node:
    tag: str
    line: int
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def find(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findtext(self, tag: str, default: str = "") -> str:
        node = self.find(tag)
        return node.text.strip() if node is not None else default


def parse_xml(path: Path) -> _Node:
    """A minimal element tree with line numbers (ElementTree drops them). Raises expat.ExpatError."""
    parser = expat.ParserCreate()
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(tag, _attrs):
        node = _Node(tag, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_tag):
        stack.pop()

    def chars(data):
        if stack:
            stack[-1].text += data

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    with open(path, "rb") as f:
        parser.ParseFile(f)
    return root[0]


def _split_lists(src: Path) -> dict[str, set[str]]:
    main = src / "ImageSets" / "Main"
    lists: dict[str, set[str]] = {}
    for name in ("train", "val", "test", "trainval"):
        f = main / f"{name}.txt"
        if f.is_file():
            lists[name] = {ln.split()[0] for ln in f.read_text().splitlines() if ln.strip()}
    if "trainval" in lists:
        tv = lists.pop("trainval")
        if "train" not in lists and "val" not in lists:
            lists["train"] = tv  # only trainval + test given: trainval is the training set
    return lists


def _find_image(xml: Path, filename: str, image_dirs: list[Path]) -> Path | None:
    for d in image_dirs:
        if filename and (d / filename).is_file():
            return d / filename
    for d in image_dirs:  # <filename> missing, without suffix or stale: fall back to the XML's stem
        for cand in sorted(d.glob(f"{xml.stem}.*")):
            if is_image(cand):
                return cand
    return None


class VocFormat:
    name = "voc"
    description = "Pascal VOC: a folder with Annotations/*.xml and JPEGImages/ (or XML files beside the images)"

    def detect(self, src: Path) -> bool:
        return src.is_dir() and ((src / "Annotations").is_dir() or any(src.glob("*.xml")))

    def read(self, src: Path) -> SourceSet:
        ann_dir = src / "Annotations" if (src / "Annotations").is_dir() else src
        xmls = sorted(ann_dir.glob("*.xml"))
        if not xmls:
            raise UserError(f"{ann_dir}: no .xml annotation files found; is this a Pascal VOC folder?")
        image_dirs = [d for d in (src / "JPEGImages", ann_dir, src) if d.is_dir()]
        lists = _split_lists(src)
        split_of = {stem: split for split, stems in lists.items() for stem in stems}
        fixes: list[Fix] = []
        images: list[SourceImage] = []
        names: set[str] = set()
        for xml in xmls:
            rel_xml = str(xml.relative_to(src))
            try:
                root = parse_xml(xml)
            except expat.ExpatError as e:
                fixes.append(Fix("unreadable_annotation_skipped", rel_xml, e.lineno, f"not valid XML: {e}"))
                continue
            if lists:
                split = split_of.get(xml.stem)
                if split is None:
                    fixes.append(Fix("unlisted_image_skipped", rel_xml, None,
                                     "not listed in any ImageSets/Main/{train,val,test}.txt"))
                    continue
            else:
                split = "train"
            filename = root.findtext("filename")
            image = _find_image(xml, filename, image_dirs)
            if image is None:
                node = root.find("filename")
                fixes.append(Fix("missing_image_skipped", rel_xml, node.line if node is not None else root.line,
                                 f"image '{filename}' not found"))
                continue
            size = root.find("size")
            declared = None
            if size is not None:
                try:
                    declared = (int(float(size.findtext("width"))), int(float(size.findtext("height"))))
                except ValueError:
                    declared = None
            item = SourceImage(SPLIT_ALIASES.get(split, split), image, safe_relpath(image.name), rel_xml,
                               root.line, declared)
            for obj in (c for c in root.children if c.tag == "object"):
                name = obj.findtext("name")
                bnd = obj.find("bndbox")
                try:
                    coords = [float(bnd.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
                except (AttributeError, ValueError):
                    fixes.append(Fix("malformed_box_skipped", rel_xml, obj.line, "missing or non-numeric <bndbox>"))
                    continue
                if not name:
                    fixes.append(Fix("malformed_box_skipped", rel_xml, obj.line, "object without <name>"))
                    continue
                names.add(name)
                difficult = obj.findtext("difficult", "0") not in ("0", "", "false", "False")
                item.boxes.append(SourceBox(name, *coords, file=rel_xml, line=obj.line, difficult=difficult))
            images.append(item)
        order = sorted(names, key=lambda s: (s.lower(), s))
        fixes += self._unannotated_images(src, image_dirs, {i.path.stem for i in images} | {x.stem for x in xmls})
        return SourceSet(images, order, "class names found in the XML files, sorted alphabetically (case-insensitive)",
                         fixes)

    @staticmethod
    def _unannotated_images(src: Path, image_dirs: list[Path], annotated: set[str]) -> list[Fix]:
        # An image without XML is usually not labelled yet rather than a true background: skip it, but say so.
        seen = {p for d in image_dirs for p in d.iterdir() if p.is_file() and is_image(p)}
        return [Fix("unannotated_image_skipped", str(p.relative_to(src)), None, "no XML annotation file")
                for p in sorted(seen) if p.stem not in annotated]
