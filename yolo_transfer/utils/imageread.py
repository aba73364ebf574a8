"""The one image reader: training, validation, predict, the parity gate, calibration and the data tools all read an
image file through `read_image`, so what a model saw in training is what it sees in deployment.

- **Pixel limit.** The header is read first (PIL, no decode) and an image with more than `max_pixels()` pixels is
  refused before any pixel buffer exists: a header may lie about its size (docs: Untrusted inputs).
- **8-bit** files decode exactly as OpenCV's `IMREAD_COLOR` (Ultralytics' reader) does: same pixels, EXIF applied.
- **More than 8 bits** (16-bit PNG/TIFF, 12-bit in 16, float TIFF, DICOM) are mapped to the model's 8-bit input by a
  `Window`: 256 equal bins over [low, high], so `0,4095` maps a 12-bit value v to v // 16 and `0,65535` to v >> 8.
  Ultralytics keeps the high byte whatever the range, which turns a 12-bit frame nearly black (docs: Medical and
  industrial images).
- A frame of a multi-page TIFF or multi-frame DICOM is named `file#k` (0-based); `file` alone is frame 0.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imagefile import jpeg_cut_short

MAX_PIXELS_ENV = "YOLO_TRANSFER_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 16384 * 16384  # 268 MP: a 16k line-scan frame passes; a 50,000 x 50,000 header does not
DICOM_SUFFIXES = (".dcm", ".dicom")
BIT_DEPTHS = (8, 10, 12, 14, 16)  # the sensor depths `auto` rounds a measured range up to (Mono8 ... Mono16)


class BadImage(Exception):
    """The file cannot be used as an image; the message is the reason written to the errors file."""


class TooLarge(BadImage):
    """More pixels than the limit: never decoded, by any reader."""


def max_pixels() -> int:
    """The pixel limit: `$YOLO_TRANSFER_MAX_PIXELS` (set by `--max-pixels`), else `DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").replace("_", "").replace(",", "")
    try:
        return int(raw) if raw else DEFAULT_MAX_PIXELS
    except ValueError:
        raise UserError(f"${MAX_PIXELS_ENV}={raw!r}: give a whole number of pixels, e.g. 268435456") from None


def set_max_pixels(limit: int | None) -> None:
    """Set the pixel limit for this process and the ones it starts (dataloader workers, DDP ranks, Ray actors).

    PIL's own bomb check is set so that it refuses what we refuse: Ultralytics' label check opens every training image
    with PIL, so a dataset image over the limit is dropped there as corrupt, with Ultralytics' warning naming it."""
    if limit is not None:
        if limit < 1:
            raise UserError(f"--max-pixels {limit}: give a positive number of pixels")
        os.environ[MAX_PIXELS_ENV] = str(int(limit))
    Image.MAX_IMAGE_PIXELS = (max_pixels() + 1) // 2  # PIL refuses above twice this: above our limit


set_max_pixels(None)


@contextlib.contextmanager
def pixel_limit(limit: int | None):
    """`set_max_pixels(limit)` for the duration of one command (a Python caller's process keeps its own limit)."""
    before = os.environ.get(MAX_PIXELS_ENV)
    set_max_pixels(limit)
    try:
        yield
    finally:
        if limit is not None:
            if before is None:
                os.environ.pop(MAX_PIXELS_ENV, None)
            else:
                os.environ[MAX_PIXELS_ENV] = before
            set_max_pixels(None)


def too_large(width: int, height: int, frames: int = 1) -> str | None:
    """The refusal for an image of this size, or None when it is within the limit."""
    n = width * height * max(frames, 1)
    return _over(n, f"{width} x {height}{f' x {frames} frames' if frames > 1 else ''} = ")


def _over(n: int, shape: str = "") -> str | None:
    limit = max_pixels()
    if n <= limit:
        return None
    return (f"too many pixels: {shape}{n:,}, over the limit of {limit:,} (raise it with --max-pixels or "
            f"${MAX_PIXELS_ENV} if the image is genuine)")


# --- the intensity window ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """How values above 8 bits become the model's 8-bit input: 256 equal bins over [low, high] (inclusive).

    `source`: `set` (given by the user), `auto` (measured from the training images, rounded up to a sensor depth),
    or `dicom` (each DICOM file's own window tags; low/high are then the fallback for files without them)."""

    low: float
    high: float
    source: str = "set"

    def __post_init__(self):
        if not self.high > self.low:
            raise UserError(f"window {self.low:g},{self.high:g}: HIGH must be above LOW")

    @classmethod
    def parse(cls, text: str) -> "Window":
        try:
            low, high = (float(v) for v in str(text).split(","))
        except ValueError:
            raise UserError(f"--window {text}: give LOW,HIGH (e.g. 0,4095 for 12-bit data), pLOW,pHIGH (percentiles, e.g. "
                            f"p0.5,p99.5) or auto") from None
        if not high > low:
            raise UserError(f"--window {text}: HIGH must be above LOW (e.g. 0,4095 for 12-bit data)")
        return cls(low, high)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Window | None":
        return cls(float(d["low"]), float(d["high"]), str(d.get("source", "set"))) if d else None

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "source": self.source}

    def __str__(self) -> str:
        return f"{self.low:g},{self.high:g}"

    @property
    def bits(self) -> int:
        """The sensor depth this window spans (12 for 0,4095)."""
        return max(8, math.ceil(math.log2(self.high - self.low + 1)))

    def apply(self, values: np.ndarray) -> np.ndarray:
        scale = 256.0 / (self.high - self.low + 1)
        out = (values.astype(np.float32) - np.float32(self.low)) * np.float32(scale)
        return np.clip(out, 0, 255, out=out).astype(np.uint8)


def window_from_range(vmax: float, vmin: float = 0, integer: bool = True) -> Window:
    """`auto`: an integer range rounded up to the next sensor depth (max 3,900 -> 0,4095); a float range as it is."""
    if integer and vmin >= 0:
        return Window(0, 2 ** next((b for b in BIT_DEPTHS if vmax < 2 ** b), 16) - 1, "auto")
    return Window(float(vmin), float(vmax) if vmax > vmin else float(vmin) + 1, "auto")


# --- decoding --------------------------------------------------------------------------------------------------------
def split_frame(path: str | os.PathLike) -> tuple[str, int | None]:
    """`scan.tif#3` -> (`scan.tif`, 3); a path that exists as named is never split (a `#` may be in a file name)."""
    s = str(path)
    base, sep, k = s.rpartition("#")
    if sep and k.isdigit() and not os.path.exists(s):
        return base, int(k)
    return s, None


def _size(data: bytes) -> tuple[int, int, int]:
    """(width, height, frames) from the header; PIL reads it without decoding pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size[0], im.size[1], 1
        except Image.DecompressionBombError as e:  # PIL's own check, set to our limit (`set_max_pixels`)
            raise TooLarge(bomb_message(e)) from None
        except Exception:  # a format PIL does not know (OpenCV may): the decoder's own limit applies
            return 0, 0, 1


def bomb_message(e: Exception) -> str:
    """PIL's DecompressionBombError in our words (the pixel count and the limit, and how to raise it)."""
    n = re.search(r"\((\d+) pixels\)", str(e))
    return (_over(int(n[1])) if n else None) or f"too many pixels: {e}"


def read_raw(path: str | os.PathLike, data: bytes | None = None) -> np.ndarray:
    """The pixels as stored (uint8/uint16/float32; HxW or HxWx3 BGR, alpha dropped), after the pixel limit."""
    path, frame = split_frame(path)
    if path.lower().endswith(DICOM_SUFFIXES):
        from yolo_transfer.utils import dicom

        return dicom.read(path, frame or 0)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise BadImage(f"cannot read file: {e.strerror or e}") from None
    if not data:
        raise BadImage("empty file (0 bytes)")
    if jpeg_cut_short(data, data):
        raise BadImage(f"truncated JPEG: no end-of-image marker ({len(data)} bytes)")
    refusal = too_large(*_size(data))
    if refusal:
        raise TooLarge(refusal)
    return _decode(data, frame)


def _decode(data: bytes, frame: int | None) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR  # 8-bit: IMREAD_COLOR's pixels (gray -> BGR below)
    try:
        if frame:
            ok, pages = cv2.imdecodemulti(buf, flags)
            if not ok or frame >= len(pages):
                raise BadImage(f"no frame {frame} (the file has {len(pages) if ok else 0})")
            img = pages[frame]
        else:
            img = cv2.imdecode(buf, flags)
    except cv2.error as e:  # e.g. more pixels than OpenCV's own limit, or a codec failing mid-file
        raise BadImage(f"decoder failed: {str(e).strip().splitlines()[-1][:200]}") from None
    if img is None:
        raise BadImage(f"not a decodable image ({len(data)} bytes, starts with {data[:8]!r})")
    if img.size == 0:
        raise BadImage("image has zero width or height")
    return img


def to_bgr8(raw: np.ndarray, window: Window | None) -> np.ndarray:
    """An image as stored -> the model's HxWx3 uint8 BGR input (`window` maps anything above 8 bits)."""
    if raw.dtype != np.uint8:
        if window is None:
            window = window_from_range(float(raw.max()), float(raw.min()), np.issubdtype(raw.dtype, np.integer))
        raw = window.apply(raw)
    if raw.ndim == 2:
        raw = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    elif raw.shape[2] == 4:
        raw = cv2.cvtColor(raw, cv2.COLOR_BGRA2BGR)
    return raw


def read_image(path: str | os.PathLike, window: Window | None = None, data: bytes | None = None) -> np.ndarray:
    """One image file (or `file#frame`) as the model's HxWx3 uint8 BGR input; `BadImage` says why it cannot be.

    Without a `window`, an image above 8 bits is mapped by its own range rounded up to a sensor depth (`auto` for one
    image); training, predict and the gate pass the model's recorded window instead. A DICOM file under a `dicom`
    window (or none) uses its own window tags where it has them."""
    raw = read_raw(path, data)
    name, _ = split_frame(path)
    if name.lower().endswith(DICOM_SUFFIXES) and (window is None or window.source == "dicom"):
        from yolo_transfer.utils import dicom

        window = dicom.window(name) or window
    return to_bgr8(raw, window)


# --- what a set of images holds ------------------------------------------------------------------------------------
@dataclass
class Depth:
    """The bit depth and value range a set of images uses (`measure`)."""

    bits: int  # the container: 8, 16 (or 32 for float)
    vmin: float
    vmax: float
    images: int
    integer: bool = True

    @property
    def window(self) -> Window | None:
        """`auto`'s window for these images, None for 8-bit data (read as it is)."""
        return None if self.bits == 8 else window_from_range(self.vmax, self.vmin, self.integer)

    @property
    def used_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.vmax + 1))) if self.integer and self.vmax >= 0 else self.bits


def depth_of(raw: np.ndarray) -> Depth:
    bits = 8 if raw.dtype == np.uint8 else 16 if raw.dtype.itemsize == 2 else 32
    return Depth(bits, float(raw.min()), float(raw.max()), 1, bool(np.issubdtype(raw.dtype, np.integer)))


def merge(depths: list[Depth]) -> Depth | None:
    if not depths:
        return None
    return Depth(max(d.bits for d in depths), min(d.vmin for d in depths), max(d.vmax for d in depths),
                 sum(d.images for d in depths), all(d.integer for d in depths))


def percentile_window(paths: list, low: float, high: float, sample: int = 64, per_image: int = 65536) -> Window | None:
    """A robust window: the `low`-th and `high`-th percentiles of the values of up to `sample` evenly spread images
    (each thinned to about `per_image` values), so a few hot or dead pixels do not stretch the range. None when no
    image could be read."""
    values = [v.ravel()[:: max(1, v.size // per_image)].astype(np.float32) for v in _sampled(paths, sample)]
    if not values:
        return None
    lo, hi = (float(x) for x in np.percentile(np.concatenate(values), [low, high]))
    return Window(lo, hi if hi > lo else lo + 1, f"p{low:g},p{high:g}")


def measure(paths: list, sample: int = 64) -> Depth | None:
    """Bit depth and value range over up to `sample` evenly spread images (unreadable ones skipped)."""
    return merge([depth_of(raw) for raw in _sampled(paths, sample)])


def _sampled(paths, sample: int):
    """The raw pixels of up to `sample` evenly spread images (all with 0), unreadable ones skipped."""
    paths = list(paths)
    step = max(1, len(paths) // sample) if sample else 1
    for p in paths[::step][:sample or None]:
        try:
            yield read_raw(p)
        except BadImage:
            continue
