"""Byte-level facts about image files that decoders gloss over."""

from __future__ import annotations

import os
from pathlib import Path

# The images every reader takes (datasets, predict, the parity gate, calibration, stats): Ultralytics' IMG_FORMATS,
# spelled here so that listing images imports no torch; the common ones first, as messages list them.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".avif", ".dng", ".heic", ".heif",
                  ".jp2", ".mpo", ".dcm", ".dicom")  # + DICOM (the `dicom` extra; utils.dicom)


def is_image(path: str | os.PathLike) -> bool:
    """An image by its suffix (any case)."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
# Cameras and editors sometimes append padding or metadata after the EOI marker; look for it near the end.
EOI_WINDOW = 64 * 1024


def jpeg_cut_short(head: bytes, tail: bytes) -> bool:
    """A JPEG (by its magic) whose last `EOI_WINDOW` bytes hold no end-of-image marker: the scan was cut short
    (OpenCV and PIL both decode it into a partly grey picture, only warning on stderr)."""
    return head[:2] == JPEG_SOI and tail[-EOI_WINDOW:].rfind(JPEG_EOI) < 0


def head_bytes(path: str | os.PathLike, n: int = 8192) -> bytes:
    """The first `n` bytes of a file (b"" when it cannot be read): enough to tell a format by."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def jpeg_file_cut_short(path: str | Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(2)
        size = f.seek(0, 2)
        f.seek(max(0, size - EOI_WINDOW))
        return jpeg_cut_short(head, f.read())
