"""Looking at image files: their size (header only) or a full probe (decode once: size, damage, perceptual hash).

The probe decodes each image exactly once and gets three answers from it, because decoding is what costs time on
tens of thousands of images. JPEGs are decoded at reduced scale (`draft`), which is several times faster and still
reads every byte, so truncation is still caught.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from yolo_transfer.utils.imagefile import jpeg_file_cut_short
from yolo_transfer.utils.progress import progress

_SWAP_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
THUMB = 64  # side of the grayscale thumbnail kept per image (4 KB) for confirming near-duplicates


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation applied, as Ultralytics and OpenCV do), from the header only."""
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(274)
        except Exception:  # broken EXIF blocks are common and harmless for the size
            orientation = None
    return (h, w) if orientation in _SWAP_ORIENTATIONS else (w, h)


@dataclass
class ImageProbe:
    path: Path
    width: int = 0
    height: int = 0
    phash: int | None = None  # 64-bit perceptual hash; None when the image could not be decoded
    thumb: np.ndarray | None = field(default=None, repr=False)  # THUMB x THUMB uint8 grayscale, for dedup.confirm
    error: str | None = None  # why the image cannot be used (unreadable, truncated)
    warning: str | None = None  # usable but suspicious (e.g. JPEG without end marker that still decoded)

    @property
    def ok(self) -> bool:
        return self.error is None


def probe_image(path: str | Path) -> ImageProbe:
    path = Path(path)
    probe = ImageProbe(path)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone relaxed PIL globally; we must not, or truncation goes unseen
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        probe.width, probe.height = image_size(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.format == "JPEG":
                    im.draft("L", (128, 128))
                im.load()
                gray = im.convert("L")
                probe.phash = int(str(imagehash.phash(gray)), 16)
                probe.thumb = np.asarray(gray.resize((THUMB, THUMB), Image.BOX))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        msg = str(e) or type(e).__name__
        probe.error = ("truncated image: " if "truncated" in msg else "unreadable image: ") + msg
        return probe
    if jpeg_file_cut_short(path):
        probe.warning = "JPEG has no end-of-image marker (possibly cut short; it still decodes)"
    return probe


def probe_images(paths: Sequence[Path], desc: str = "images", workers: int = 4,
                 show_progress: bool | None = None) -> list[ImageProbe]:
    """Probe many images in parallel (PIL releases the GIL while decoding), with a progress bar."""
    disable = None if show_progress is None else not show_progress
    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(progress(pool.map(probe_image, paths), desc=desc, total=len(paths), unit="img", disable=disable))
