"""The one image reader: 8-bit exactly as OpenCV/Ultralytics, more than 8 bits through a window, bombs refused."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.utils import imageread
from yolo_transfer.utils.imageread import BadImage, Window, read_image


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h pixels, with a few bytes of image data: a header that lies."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                     + chunk(b"IEND", b""))
    return path


def test_8_bit_images_read_exactly_as_opencv_imread_color(tmp_path, coco128_dir):
    files = sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:24]
    rng = np.random.default_rng(0)
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), rng.integers(0, 255, (40, 50), np.uint8))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), rng.integers(0, 255, (40, 50, 4), np.uint8))
    for f in [*files, gray, rgba]:
        np.testing.assert_array_equal(read_image(f), cv2.imread(str(f), cv2.IMREAD_COLOR), err_msg=str(f))


def test_a_12_bit_frame_maps_to_the_8_bit_original_exactly(tmp_path):
    rng = np.random.default_rng(1)
    img8 = rng.integers(0, 256, (30, 40), np.uint8)
    p16 = tmp_path / "x12.png"
    cv2.imwrite(str(p16), img8.astype(np.uint16) * 16)  # Mono12 in a 16-bit container
    got = read_image(p16, Window(0, 4095))
    np.testing.assert_array_equal(got[..., 0], img8)
    # without a window: the image's own range rounded up to 12 bits, the same answer
    np.testing.assert_array_equal(read_image(p16)[..., 0], img8)
    # the full 16-bit window is Ultralytics' high byte
    np.testing.assert_array_equal(read_image(p16, Window(0, 65535))[..., 0], (img8.astype(np.uint16) * 16) >> 8)


def test_a_colour_16_bit_tiff_frame_by_number(tmp_path):
    pages = [np.full((8, 9, 3), v * 256, np.uint16) for v in (10, 20, 30)]
    p = tmp_path / "pages.tif"
    assert cv2.imwritemulti(str(p), pages)
    assert read_image(f"{p}#2", Window(0, 65535))[0, 0, 0] == 30
    assert read_image(p, Window(0, 65535))[0, 0, 0] == 10
    with pytest.raises(BadImage, match="no frame 5"):
        read_image(f"{p}#5")


@pytest.mark.parametrize("text,ok", [("0,4095", True), ("100,50", False), ("4095", False), ("a,b", False)])
def test_window_parse(text, ok):
    if ok:
        w = Window.parse(text)
        assert (w.low, w.high, w.bits) == (0, 4095, 12)
        assert Window.from_dict(w.to_dict()) == w
    else:
        with pytest.raises(UserError, match="window"):
            Window.parse(text)


def test_auto_rounds_a_measured_range_up_to_a_sensor_depth(tmp_path):
    for i, top in enumerate((3000, 4000)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.linspace(0, top, 64, dtype=np.uint16).reshape(8, 8))
    cv2.imwrite(str(tmp_path / "8.png"), np.zeros((8, 8), np.uint8))
    d = imageread.measure(sorted(tmp_path.glob("[01].png")))
    assert (d.bits, d.vmax, d.images, d.used_bits) == (16, 4000, 2, 12)
    assert d.window == Window(0, 4095, "auto")
    assert imageread.measure([tmp_path / "8.png"]).window is None


def test_a_header_claiming_50000_squared_pixels_is_refused_before_decoding(tmp_path):
    bomb = _png_header_only(tmp_path / "bomb.png", 50_000, 50_000)
    with pytest.raises(BadImage, match="too many pixels: 2,500,000,000, over the limit of 268,435,456 .raise it with --max-pixels"):
        read_image(bomb)


def test_the_limit_is_settable(tmp_path, monkeypatch):
    p = tmp_path / "small.png"
    cv2.imwrite(str(p), np.zeros((100, 100, 3), np.uint8))
    monkeypatch.setenv(imageread.MAX_PIXELS_ENV, "9999")
    with pytest.raises(BadImage, match="too many pixels: 100 x 100 = 10,000, over the limit of 9,999"):
        read_image(p)
    monkeypatch.setenv(imageread.MAX_PIXELS_ENV, "10000")
    assert read_image(p).shape == (100, 100, 3)
    monkeypatch.setenv(imageread.MAX_PIXELS_ENV, "lots")
    with pytest.raises(UserError, match="YOLO_TRANSFER_MAX_PIXELS"):
        imageread.max_pixels()


def test_a_real_decompression_bomb_costs_no_memory(tmp_path):
    """A valid 20,000 x 20,000 PNG of zeros (1.2 GB decoded, 1 MB on disk): refused with the process under 400 MB."""
    p = tmp_path / "real_bomb.png"
    w = h = 20_000
    z = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * w)
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                  + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the (large) pytest process
    code = (f"from yolo_transfer.utils.imageread import read_image, BadImage\n"
            f"try: read_image({str(p)!r})\nexcept BadImage as e: print('refused', e)\n"
            f"hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            f"print(int(hwm.split()[1]) // 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"YOLO_TRANSFER_MAX_PIXELS": str(100_000_000), "PATH": ""}).stdout.split("\n")
    assert out[0].startswith("refused too many pixels: 400,000,000, over the limit of 100,000,000"), out
    assert int(out[1]) < 400, f"peak RSS {out[1]} MB"


def test_a_percentile_window_ignores_a_few_hot_pixels(tmp_path):
    """`--window p0.5,p99.5`: the range most values fall in, not stretched by a hot pixel; recorded with its rule."""
    from yolo_transfer import windows

    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        im = rng.integers(1000, 3001, (64, 64)).astype(np.uint16)
        im[0, :3] = 65535  # hot pixels: the value range (auto) would span all 16 bits
        cv2.imwrite(str(tmp_path / f"{k}.png"), im)
        paths.append(tmp_path / f"{k}.png")
    w = windows.choose(None, "p0.5,p99.5", paths, "test")
    assert 1000 <= w.low < 1020 and 2980 < w.high <= 3000 and w.source == "p0.5,p99.5"
    assert Window.from_dict(w.to_dict()) == w  # travels in transfer.json and checkpoints as it is
    assert windows.choose(None, "auto", paths, "test").high == 65535
    for bad in ("p99,p1", "p1,p101", "px,p2"):
        with pytest.raises(UserError, match="percentiles"):
            windows.choose(None, bad, paths, "test")
