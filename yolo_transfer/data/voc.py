"""Pascal VOC reader, for VOC as people ship it: every XML file with an `<annotation>` root anywhere under SOURCE.

Layouts seen in the wild, handled alike: `Annotations/` + `JPEGImages/` (+ `ImageSets/Main/*.txt`), `images/` +
`annotations/` or `labels/` in any case, XML beside each image (LabelImg), split-named folder pairs (`train_images/`
+ `train_annots/`, `Validation_Images/` + `Validation_Annotations/`, `val/`), nested sub-folders, and a `<filename>`
that disagrees with the real file name or extension.

Pairing an XML with its image: by `<filename>`, then by the XML's stem (any image suffix), looking first in the
XML's own folder, then in the mirrored path of a sibling images folder (`*annot*`/`*label*`/`*xml*` ->
`*image*`/`*img*`/`*jpeg*`, same split word), then anywhere under SOURCE; several equally good matches are an
ambiguity, reported and skipped rather than guessed. Split: the first split word (train / val / valid /
validation / test, any case, alone or as a prefix or suffix such as `Validation_Images`, `train_annots`) in the
XML's or the image's folders; otherwise `ImageSets/Main/{train,val,test}.txt` next to the annotations; otherwise
train. Every image under SOURCE ends up written or listed as skipped, with the reason.

XML is parsed with expat so every object keeps its line number for the report. Coordinates are pixel edges
(xmin..xmax), as modern tools write them. Class order: names sorted case-insensitively, so one set of names always
gets the same ids.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.parsers import expat

from yolo_transfer.data.annotations import Fix, SourceBox, SourceImage, SourceSet
from yolo_transfer.data.paths import Containment
from yolo_transfer.data.yolo_layout import SPLIT_ALIASES, is_image, safe_relpath
from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import head_bytes
from yolo_transfer.utils.walk import walk_files


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


_VOC_ROOT = re.compile(rb"<annotation[\s>/]")
_ANNOT_DIR = re.compile(r"annot|label|xml|^anns?$")
_IMAGE_DIR = re.compile(r"image|img|jpeg|jpg|photo|picture|pic")


def _words(name: str) -> list[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)  # valImages -> val Images
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def split_word(name: str) -> str | None:
    """'Validation_Images' -> 'val', 'train_annots' -> 'train', 'VAL' -> 'val', 'images' -> None."""
    words = [w.rstrip("0123456789") for w in _words(name)]  # train2017 -> train
    return next((SPLIT_ALIASES[w] for w in words if w in SPLIT_ALIASES), None)


def is_voc_xml(path: Path) -> bool:
    """An XML file whose root element is <annotation> (read from the first few KB, without parsing it all)."""
    head = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", head_bytes(path, 4096), flags=re.S).lstrip()
    return bool(_VOC_ROOT.match(head))


def _declared_size(root) -> tuple[int, int] | None:
    """(width, height) as the XML's <size> says, or None where it is absent or not a number."""
    size = root.find("size")
    try:
        return int(float(size.findtext("width"))), int(float(size.findtext("height")))
    except (AttributeError, TypeError, ValueError):  # no <size>, or not a number
        return None


def _boxes(root, rel_xml: str, fixes: list, names: set) -> list:
    """The XML's <object> boxes; a malformed one is skipped with a fix naming its line."""
    out = []
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
        out.append(SourceBox(name, *coords, file=rel_xml, line=obj.line, difficult=difficult))
    return out


def visible_files(root: Path, pattern: str = "*") -> list[Path]:
    """Files under `root` matching `pattern`, sorted, hidden folders and files (.git, .cache, editor backups) left
    out: what every annotation reader reads."""
    return [p for p in sorted(walk_files(root, pattern))
            if not any(part.startswith(".") for part in p.relative_to(root).parts)]


def _split_lists(main: Path) -> dict[str, set[str]]:
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


class _ImageIndex:
    """Every image under SOURCE, found by file name or stem (case-insensitive), nearest to an XML first."""

    def __init__(self, src: Path, images: list[Path]):
        self.src = src
        self.by_name: dict[str, list[Path]] = defaultdict(list)
        self.by_stem: dict[str, list[Path]] = defaultdict(list)
        for p in images:
            self.by_name[p.name.lower()].append(p)
            self.by_stem[p.stem.lower()].append(p)

    def _mirrors(self, xml: Path) -> list[Path]:
        """Folders that mirror the XML's folder through a sibling images folder of the same split."""
        out = []
        rel_parts = xml.parent.relative_to(self.src).parts
        for k in range(len(rel_parts) - 1, -1, -1):
            ann = self.src.joinpath(*rel_parts[: k + 1])
            if not _ANNOT_DIR.search(ann.name.lower()):
                continue
            for sib in sorted(ann.parent.iterdir()):
                if sib.is_dir() and sib != ann and _IMAGE_DIR.search(sib.name.lower()) \
                        and split_word(sib.name) == split_word(ann.name):
                    out.append(sib.joinpath(*rel_parts[k + 1:]))
        return out

    def find(self, xml: Path, filename: str) -> tuple[Path | None, str]:
        """(image, how) where how is '' (by <filename>), 'stem', or an ambiguity/missing message when image is None."""
        name = PurePosixPath(filename.replace("\\", "/")).name if filename else ""
        keys = ([("", self.by_name, name.lower())] if name else []) + [("stem", self.by_stem, xml.stem.lower())]
        for how, table, key in keys:
            found = [p for p in table.get(key, []) if is_image(p)]
            if not found:
                continue
            for tier in ([xml.parent], self._mirrors(xml)):
                near = [p for p in found if p.parent in tier]
                if len(near) == 1:
                    return near[0], how
                if len(near) > 1:
                    return None, f"{len(near)} images match: " + ", ".join(str(p.relative_to(self.src)) for p in near)
            if len(found) > 1:  # anywhere under SOURCE: prefer the one in the XML's split
                same = [p for p in found if split_of(p, self.src) == split_of(xml, self.src)]
                found = same if same else found
            if len(found) == 1:
                return found[0], how
            return None, f"{len(found)} images match: " + ", ".join(str(p.relative_to(self.src)) for p in found[:5])
        return None, f"image '{filename}' not found (nor any image named {xml.stem}.*) under the source folder"


def split_of(path: Path, src: Path) -> str | None:
    return next((w for w in (split_word(part) for part in path.relative_to(src).parent.parts) if w), None)


def _output_rel(image: Path, src: Path) -> PurePosixPath:
    """The image's path inside its output split folder: sub-folders below the images/split folder are kept."""
    parts = image.relative_to(src).parts
    keep = 0
    for k, part in enumerate(parts[:-1]):
        if _IMAGE_DIR.search(part.lower()) or split_word(part) or _ANNOT_DIR.search(part.lower()):
            keep = k + 1
    return safe_relpath("/".join(parts[keep:]))


class VocFormat:
    name = "voc"
    description = "Pascal VOC: XML files with an <annotation> root anywhere under the folder, and their images"

    def detect(self, src: Path) -> bool:
        return src.is_dir() and any(p.suffix.lower() == ".xml" and is_voc_xml(p) for p in visible_files(src))

    def read(self, src: Path, allow: tuple[Path, ...] = ()) -> SourceSet:
        contain = Containment(src, allow)  # VOC pairs by file name under SOURCE: only a link file can lead out
        files = visible_files(src)
        xmls = [p for p in files if p.suffix.lower() == ".xml"]
        voc = [p for p in xmls if is_voc_xml(p)]
        if not voc:
            raise UserError(f"{src}: no Pascal VOC annotation files (.xml with an <annotation> root) found under this "
                            f"folder; pass the folder that holds the XML files and images")
        index = _ImageIndex(src, [p for p in files if is_image(p)])
        lists_cache: dict[Path, dict[str, str]] = {}

        def listed_split(xml: Path) -> tuple[dict[str, str], str | None]:
            for anc in xml.parents:
                main = anc / "ImageSets" / "Main"
                if main.is_dir():
                    if main not in lists_cache:
                        lists_cache[main] = {stem: sp for sp, stems in _split_lists(main).items() for stem in stems}
                    return lists_cache[main], str(main.relative_to(src))
                if anc == src:
                    break
            return {}, None

        fixes: list[Fix] = []
        images: list[SourceImage] = []
        used: dict[Path, str] = {}
        names: set[str] = set()
        for xml in voc:
            rel_xml = str(xml.relative_to(src))
            try:
                root = parse_xml(xml)
            except expat.ExpatError as e:
                fixes.append(Fix("unreadable_annotation_skipped", rel_xml, e.lineno, f"not valid XML: {e}"))
                continue
            filename = root.findtext("filename")
            node = root.find("filename")
            fline = node.line if node is not None else root.line
            image, how = index.find(xml, filename)
            if image is None:
                kind = "missing_image_skipped" if how.startswith("image '") else "ambiguous_image_skipped"  # find()'s wording
                fixes.append(Fix(kind, rel_xml, fline, how))
                continue
            if not contain.check(image, rel_xml, str(image.relative_to(src))):
                continue
            if image in used:
                fixes.append(Fix("duplicate_annotation_skipped", rel_xml, fline,
                                 f"{image.relative_to(src)} is already annotated by {used[image]}"))
                continue
            split = split_of(xml, src) or split_of(image, src)
            if split is None:
                lists, where = listed_split(xml)
                if lists:
                    split = lists.get(xml.stem)
                    if split is None:
                        fixes.append(Fix("unlisted_image_skipped", rel_xml, None,
                                         f"not listed in any {where}/{{train,val,test}}.txt"))
                        continue
                else:
                    split = "train"
            used[image] = rel_xml
            if how == "stem" and filename:
                fixes.append(Fix("filename_mismatch", rel_xml, fline,
                                 f"<filename> says '{filename}', paired by name with {image.relative_to(src)}"))
            item = SourceImage(SPLIT_ALIASES.get(split, split), image, _output_rel(image, src), rel_xml,
                               root.line, _declared_size(root))
            item.boxes += _boxes(root, rel_xml, fixes, names)
            images.append(item)
        order = sorted(names, key=lambda s: (s.lower(), s))
        # An image without XML is usually not labelled yet rather than a true background: skip it, but say so.
        fixes += [Fix("unannotated_image_skipped", str(p.relative_to(src)), None,
                      "no XML annotation file pairs with it") for p in files if is_image(p) and p not in used]
        contain.raise_if_refused()
        return SourceSet(images, order, "class names found in the XML files, sorted alphabetically (case-insensitive)",
                         fixes)
