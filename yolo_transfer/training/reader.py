"""Ultralytics' training and validation datasets read images through the project's reader (`utils.imageread`)
while a run is active, with the run's intensity window: what a model sees in training is what `predict` feeds it.

Ultralytics' datasets read every image with `ultralytics.data.base.imread` (it keeps the high byte of a 16-bit
pixel); `reading(window)` points that name at `read_image` for as long as a run trains and validates, so the train
and val loaders, the RAM/disk caches and the dataloader workers forked from it all read alike. Outside a run the
name stays Ultralytics' own. Formats our decoder does not take (HEIC/AVIF, via PIL) fall back to Ultralytics'.

DICOM, which Ultralytics does not list, is added for the run too: its suffixes join `IMG_FORMATS` (so image folders
and list files find `.dcm` files) and its label check (`check_image`, PIL) takes a DICOM's size from its header, under
the same pixel limit. A multi-frame file trains on its first frame, as a multi-page TIFF does.
"""

from __future__ import annotations

import contextlib

import cv2

from yolo_transfer.utils.imageread import DICOM_SUFFIXES, BadImage, TooLarge, Window, read_image, too_large

_active: list[Window | None] = []  # the windows of the runs in progress (innermost last)
_ORIGINAL = None
_ORIGINAL_CHECK = None
_DICOM_FORMATS = {s.lstrip(".") for s in DICOM_SUFFIXES}


def _imread(filename, flags: int = cv2.IMREAD_COLOR):
    if not _active or flags != cv2.IMREAD_COLOR:
        return _ORIGINAL(filename, flags)
    try:
        return read_image(filename, _active[-1])
    except TooLarge:
        return None  # Ultralytics reports a missing image; its label check has dropped these already
    except BadImage:
        return _ORIGINAL(filename, flags)


def _check_image(im_file):
    """Ultralytics' label check, with DICOM's size (height, width) read from its header."""
    if not _active or not str(im_file).lower().endswith(DICOM_SUFFIXES):
        return _ORIGINAL_CHECK(im_file)
    from yolo_transfer.utils import dicom

    width, height, frames = dicom.shape(im_file)
    refusal = too_large(width, height, frames)
    assert refusal is None, refusal  # Ultralytics turns an assertion here into "ignoring corrupt image/label"
    assert width > 9 and height > 9, f"image size {(height, width)} <10 pixels"
    return "", (height, width)


def install() -> None:
    global _ORIGINAL, _ORIGINAL_CHECK
    import ultralytics.data.base as base
    import ultralytics.data.utils as data_utils

    if base.imread is not _imread:
        _ORIGINAL = base.imread
        base.imread = _imread
    if data_utils.check_image is not _check_image:
        _ORIGINAL_CHECK = data_utils.check_image
        data_utils.check_image = _check_image


@contextlib.contextmanager
def reading(window: Window | None):
    """Ultralytics' datasets read through `read_image` with `window` inside the block."""
    from ultralytics.data.utils import IMG_FORMATS  # one set object, shared by every Ultralytics module that lists images

    install()
    added = _DICOM_FORMATS - IMG_FORMATS
    IMG_FORMATS.update(added)
    _active.append(window)
    try:
        yield
    finally:
        _active.pop()
        IMG_FORMATS.difference_update(added)
