"""Ultralytics' training and validation datasets read images through the project's reader (`utils.imageread`)
while a run is active, with the run's intensity window: what a model sees in training is what `predict` feeds it.

Ultralytics' datasets read every image with `ultralytics.data.base.imread` (it keeps the high byte of a 16-bit
pixel); `reading(window)` points that name at `read_image` for as long as a run trains and validates, so the train
and val loaders, the RAM/disk caches and the dataloader workers forked from it all read alike. Outside a run the
name stays Ultralytics' own. Formats our decoder does not take (HEIC/AVIF, via PIL) fall back to Ultralytics'.
"""

from __future__ import annotations

import contextlib

import cv2

from yolo_transfer.utils.imageread import BadImage, TooLarge, Window, read_image

_active: list[Window | None] = []  # the windows of the runs in progress (innermost last)
_ORIGINAL = None


def _imread(filename, flags: int = cv2.IMREAD_COLOR):
    if not _active or flags != cv2.IMREAD_COLOR:
        return _ORIGINAL(filename, flags)
    try:
        return read_image(filename, _active[-1])
    except TooLarge:
        return None  # Ultralytics reports a missing image; its label check has dropped these already
    except BadImage:
        return _ORIGINAL(filename, flags)


def install() -> None:
    global _ORIGINAL
    import ultralytics.data.base as base

    if base.imread is not _imread:
        _ORIGINAL = base.imread
        base.imread = _imread


@contextlib.contextmanager
def reading(window: Window | None):
    """Ultralytics' datasets read through `read_image` with `window` inside the block."""
    install()
    _active.append(window)
    try:
        yield
    finally:
        _active.pop()
