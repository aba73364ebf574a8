"""Read one image file into a BGR array, or say precisely why it cannot be used.

OpenCV happily returns a half-grey picture for a truncated JPEG (it only prints a libjpeg warning), so JPEGs are
checked for their end-of-image marker first: a truncated scan must land in the errors file, not in the results.
"""

from __future__ import annotations

import cv2
import numpy as np

from yolo_transfer.utils.imagefile import jpeg_cut_short


class BadImage(Exception):
    """The file cannot be decoded into an image; the message is the reason written to the errors file."""


def read_image(path: str) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BadImage(f"cannot read file: {e.strerror or e}") from None
    if not data:
        raise BadImage("empty file (0 bytes)")
    if jpeg_cut_short(data, data):
        raise BadImage(f"truncated JPEG: no end-of-image marker ({len(data)} bytes)")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:  # e.g. more pixels than OpenCV's safety limit, or a codec failing mid-file
        raise BadImage(f"decoder failed: {str(e).strip().splitlines()[-1][:200]}") from None
    if img is None:
        raise BadImage(f"not a decodable image ({len(data)} bytes, starts with {data[:8]!r})")
    if img.size == 0:
        raise BadImage("image has zero width or height")
    return img
