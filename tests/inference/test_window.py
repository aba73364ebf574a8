"""predict on images above 8 bits: the same boxes as on the 8-bit originals, the model's window applied without a
flag, a contradicting folder refused; and an image over the pixel limit goes to the errors file, the rest go on."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_transfer.errors import UserError
from yolo_transfer.inference.api import predict
from yolo_transfer.utils import imageread
from yolo_transfer.utils.imageread import Window
from yolo_transfer import windows


def _boxes(out: Path) -> dict[str, list]:
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return {Path(r["image"]).stem: sorted((d["class_id"], *np.round(d["xyxy"], 1)) for d in r["detections"])
            for r in rows}


@pytest.fixture(scope="module")
def gray_copies(coco128_val_images, tmp_path_factory):
    """8 coco128 val images as 8-bit grayscale PNGs, and the same pixels x16 in 16-bit PNGs (a 12-bit range)."""
    root = tmp_path_factory.mktemp("gray")
    (root / "8").mkdir(), (root / "12").mkdir()
    for f in sorted(coco128_val_images.glob("*.jpg"))[:8]:
        g = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(root / "8" / f"{f.stem}.png"), g)
        cv2.imwrite(str(root / "12" / f"{f.stem}.png"), g.astype(np.uint16) * 16)
    return root


def test_12_bit_copies_give_the_8_bit_boxes(gray_copies, coco26_pt, tmp_path):
    kw = dict(device="cpu", imgsz=320, show_progress=False)
    s8 = predict(coco26_pt, gray_copies / "8", tmp_path / "o8", **kw)
    s12 = predict(coco26_pt, gray_copies / "12", tmp_path / "o12", **kw)
    assert s12.settings["window"] == {"low": 0, "high": 4095, "source": "auto"}
    assert s8.settings["window"] is None
    assert s8.detections > 0 and _boxes(tmp_path / "o8") == _boxes(tmp_path / "o12")
    # Ultralytics' reading (the high byte) is what this replaces: it loses boxes on the same frames
    s_hi = predict(coco26_pt, gray_copies / "12", tmp_path / "ohi", window="0,65535", **kw)
    assert s_hi.detections < s8.detections


@pytest.fixture
def windowed_model(tiny_model, tmp_path) -> Path:
    """The tiny model as if trained on 12-bit data: its window stamped on the model inside the .pt."""
    ckpt = torch.load(tiny_model, weights_only=False)
    for k in ("model", "ema"):
        if ckpt.get(k) is not None:
            windows.stamp(ckpt[k], Window(0, 4095, "auto"))
    dst = tmp_path / "w12.pt"
    torch.save(ckpt, dst)
    return dst


def test_the_models_window_applies_and_a_contradicting_folder_is_refused(windowed_model, gray_copies, tmp_path):
    kw = dict(device="cpu", imgsz=64, show_progress=False)
    s = predict(windowed_model, gray_copies / "12", tmp_path / "a", **kw)  # restricted load keeps the window
    assert s.model["window"] == s.settings["window"] == {"low": 0, "high": 4095, "source": "auto"}
    with pytest.raises(UserError, match="8-bit images, but the model was trained on images above 8 bits"):
        predict(windowed_model, gray_copies / "8", tmp_path / "b", **kw)
    assert not (tmp_path / "b" / "predictions.jsonl").exists()
    told = predict(windowed_model, gray_copies / "8", tmp_path / "c", window="auto", **kw)
    assert told.processed == 8


def _lying_png(path: Path, w: int, h: int) -> None:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def test_an_image_over_the_pixel_limit_goes_to_the_errors_file(good_folder, tiny_model, tmp_path):
    _lying_png(good_folder / "bomb.png", 50_000, 50_000)
    big = good_folder / "big.png"
    cv2.imwrite(str(big), np.zeros((600, 800, 3), np.uint8))
    s = predict(tiny_model, good_folder, tmp_path / "o", device="cpu", imgsz=64, max_pixels=420_000,
                show_progress=False)
    errors = {Path(json.loads(line)["image"]).name: json.loads(line)["error"]
              for line in (tmp_path / "o" / "errors.jsonl").read_text().splitlines()}
    assert set(errors) == {"bomb.png", "big.png"} and s.processed == 8
    assert errors["big.png"].startswith("too many pixels: 480,000, over the limit of 420,000")
    assert "too many pixels: 2,500,000,000" in errors["bomb.png"]
    assert imageread.MAX_PIXELS_ENV not in os.environ  # the command's limit, not the process's
