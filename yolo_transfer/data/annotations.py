"""What every source format is read into before conversion: images with pixel boxes, and where each came from.

Readers (`voc.py`, `coco.py`) only parse; all fixing (clipping, skipping, size checks) happens once, in
`convert.py`, so both formats are treated the same way and counted in the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass
class SourceBox:
    name: str
    x1: float
    y1: float
    x2: float
    y2: float
    file: str  # annotation file it came from
    line: int | None = None  # line in that file (VOC); None where the format has no useful lines (COCO JSON)
    ref: str = ""  # extra locator, e.g. "annotation id 17"
    difficult: bool = False
    crowd: bool = False


@dataclass
class SourceImage:
    split: str
    path: Path  # the image file in the source
    rel: PurePosixPath  # its path inside the output split folder
    annotation_file: str
    annotation_line: int | None = None
    declared_size: tuple[int, int] | None = None  # (width, height) the annotation claims
    boxes: list[SourceBox] = field(default_factory=list)


@dataclass
class Fix:
    """One change or omission made while converting, with where it happened in the source."""

    kind: str
    file: str
    line: int | None = None
    detail: str = ""

    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class SourceSet:
    images: list[SourceImage]
    class_names: list[str]  # in the order the format defines (sorted names for VOC, category id order for COCO)
    order: str  # one sentence: how that order was chosen
    fixes: list[Fix] = field(default_factory=list)  # problems found while reading (unparseable files, ...)
