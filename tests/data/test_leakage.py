"""Near-duplicate leakage: copies are flagged, look-alikes are not, and split groups only confirmed pairs.

The full measurement (thousands of images, every edit, three sets) is bench/leakage.py; these are its small,
fast versions with the same thresholds.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.dedup import (DEFAULT_MAX_DISTANCE, MIN_SIMILARITY, detail_similarity, find_near_duplicates,
                                      hamming_pairs)
from yolo_transfer.data.images import probe_image
from yolo_transfer.data.split import split_dataset
from yolo_transfer.data.synth import scan_like_image


def _jpeg(im: Image.Image, q: int = 95) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _all_edits(im: Image.Image) -> bytes:
    """Resized to 85%, brightened x1.3, cropped 3%, JPEG quality 70: all at once, the hardest planted copy."""
    w, h = im.size
    im = ImageEnhance.Brightness(im.resize((round(w * .85), round(h * .85)), Image.BILINEAR)).enhance(1.3)
    w, h = im.size
    return _jpeg(im.crop((round(w * .015), round(h * .015), w - round(w * .015), h - round(h * .015))), 70)


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """120 *different* scan-like images (80 train / 40 val) plus edited copies of 10 val images in train."""
    root = tmp_path_factory.mktemp("scans")
    for split, seeds in (("train", range(300_000, 300_080)), ("val", range(300_080, 300_120))):
        (root / "images" / split).mkdir(parents=True)
        for s in seeds:
            cv2.imwrite(str(root / "images" / split / f"scan_{s}.png"), scan_like_image(s, 192))
    for s in range(300_080, 300_090):
        with Image.open(root / "images/val" / f"scan_{s}.png") as im:
            (root / "images/train" / f"copy_{s}.jpg").write_bytes(_all_edits(im))
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [organ]\n")
    return root


def test_copies_flagged_lookalikes_not(scans):
    report = check_dataset(scans / "data.yaml", show_progress=False)
    flagged = {(d.a.split("/")[-1], d.b.split("/")[-1]) for d in report.near_duplicates}
    assert flagged == {(f"copy_{s}.jpg", f"scan_{s}.png") for s in range(300_080, 300_090)}
    assert all(d.similarity >= MIN_SIMILARITY for d in report.near_duplicates)
    assert report.near_duplicate_candidates > len(flagged)  # the hash proposed look-alikes too; they were rejected


def test_hash_proposes_lookalikes_detail_rejects_them(scans):
    """Why the confirmation step exists: different images share hashes within the candidate radius."""
    train = sorted((scans / "images/train").glob("scan_*.png"))
    val = sorted((scans / "images/val").glob("scan_*.png"))
    pt, pv = [probe_image(p) for p in train], [probe_image(p) for p in val]
    old = hamming_pairs(np.array([p.phash for p in pt], np.uint64), np.array([p.phash for p in pv], np.uint64),
                        max_distance=DEFAULT_MAX_DISTANCE)
    assert len(old) >= 5
    for i, j, _ in old:
        assert detail_similarity(pt[i].thumb, pv[j].thumb) < MIN_SIMILARITY


def test_split_groups_only_confirmed_pairs(scans, tmp_path):
    rep = split_dataset(scans / "data.yaml", tmp_path / "out", ratios=(0.5, 0.5), seed=1, show_progress=False)
    assert rep.duplicate_groups == 10 and rep.grouped_images == 20  # the copies with their originals, nothing else
    where = {src.split("/")[-1]: k.split("/")[0] for k, src in rep.assignment.items()}
    assert all(where[f"copy_{s}.jpg"] == where[f"scan_{s}.png"] for s in range(300_080, 300_090))


def test_exact_copies_of_flat_images_are_duplicates():
    flat = np.full((64, 64), 17, np.uint8)
    assert detail_similarity(flat, flat) == 1.0
    got = find_near_duplicates([5, 5], [flat, flat.copy()])
    assert got.pairs.tolist() == [[0, 1, 0]]


def test_bccd_refocused_pair_is_confirmed(bccd_dir):
    a, b = (probe_image(bccd_dir / "JPEGImages" / f"BloodImage_{k:05d}.jpg") for k in (37, 38))
    assert detail_similarity(a.thumb, b.thumb) >= MIN_SIMILARITY
    assert find_near_duplicates([a.phash], [a.thumb], [b.phash], [b.thumb]).pairs.shape == (1, 3)
