"""Looking at image files: their size (header only) or a probe (one decode: damage, bit depth, perceptual hash).

Decoding is what costs time on tens of thousands of images, so the probe decodes each image exactly once. JPEGs are
decoded at reduced scale (`draft`): several times faster, and still reading every byte, so truncation is caught.
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

from yolo_transfer.utils.imagefile import head_bytes, jpeg_file_cut_short
from yolo_transfer.utils.imageread import DICOM_SUFFIXES, BadImage, bomb_message, depth_of, read_raw, to_bgr8
from yolo_transfer.utils.progress import progress

_SWAP_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
THUMB = 64  # side of the grayscale thumbnail kept per image (4 KB) for confirming near-duplicates


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF rotation applied, as Ultralytics and OpenCV do), from the header only."""
    if str(path).lower().endswith(DICOM_SUFFIXES):
        from yolo_transfer.utils import dicom

        return dicom.size(path)
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as e:  # over the pixel limit (utils.imageread): unusable, like a bad file
        raise OSError(bomb_message(e)) from None
    with im:
        w, h = im.size
        try:
            orientation = im.getexif().get(274)
        except Exception:  # broken EXIF blocks are common and harmless for the size
            orientation = None
    return (h, w) if orientation in _SWAP_ORIENTATIONS else (w, h)


@dataclass
class ImageProbe:
    path: Path
    phash: int | None = None  # 64-bit perceptual hash; None when the image could not be decoded
    thumb: np.ndarray | None = field(default=None, repr=False)  # THUMB x THUMB uint8 grayscale, for dedup.confirm
    error: str | None = None  # why the image cannot be used (unreadable, truncated)
    warning: str | None = None  # usable but suspicious (e.g. JPEG without end marker that still decoded)
    depth: object = None  # utils.imageread.Depth of an image above 8 bits (None: 8-bit)

    @property
    def ok(self) -> bool:
        return self.error is None


def probe_image(path: str | Path) -> ImageProbe:
    path = Path(path)
    probe = ImageProbe(path)
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # in case someone relaxed PIL globally: else truncation goes unseen
    if str(path).lower().endswith(DICOM_SUFFIXES) or _deep(path):
        return _probe_deep(probe)
    try:
        image_size(path)  # its OSError words a pixel-limit refusal as "unreadable image: ..."
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.format == "JPEG":
                    im.draft("L", (128, 128))
                im.load()
                gray = im.convert("L")
                probe.phash = int(str(imagehash.phash(gray)), 16)
                probe.thumb = np.asarray(gray.resize((THUMB, THUMB), Image.BOX))
    except Image.DecompressionBombError as e:
        probe.error = bomb_message(e)
        return probe
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        msg = str(e) or type(e).__name__
        probe.error = ("truncated image: " if "truncated" in msg else "unreadable image: ") + msg
        return probe
    if jpeg_file_cut_short(path):
        probe.warning = "JPEG has no end-of-image marker (possibly cut short; it still decodes)"
    return probe


def _deep(path: Path) -> bool:
    """More than 8 bits per sample (PIL's 16-bit and 32-bit modes; 48-bit RGB PNGs by their header)."""
    try:
        with Image.open(path) as im:
            if im.mode.startswith(("I", "F")):
                return True
            return im.format == "PNG" and im.mode == "RGB" and head_bytes(path, 25)[24:25] == b"\x10"  # IHDR depth
    except Exception:  # noqa: BLE001 - the 8-bit probe reports unreadable files in its own words
        return False


def _probe_deep(probe: ImageProbe) -> ImageProbe:
    """Images above 8 bits and DICOM: decoded by the one reader, hashed on their own-range 8-bit view."""
    try:
        raw = read_raw(probe.path)
    except BadImage as e:
        probe.error = f"unreadable image: {e}"
        return probe
    probe.depth = depth_of(raw)
    gray = Image.fromarray(to_bgr8(raw, None)[..., 0])
    probe.phash = int(str(imagehash.phash(gray)), 16)
    probe.thumb = np.asarray(gray.resize((THUMB, THUMB), Image.BOX))
    return probe


def probe_images(paths: Sequence[Path], desc: str = "images", workers: int = 4,
                 show_progress: bool | None = None) -> list[ImageProbe]:
    """Probe many images in parallel (PIL releases the GIL while decoding), with a progress bar."""
    disable = None if show_progress is None else not show_progress
    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(progress(pool.map(probe_image, paths), desc=desc, total=len(paths), unit="img", disable=disable))
