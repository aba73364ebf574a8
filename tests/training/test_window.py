"""Training on 12-bit data: the loaders read through the project's reader with the run's window, the window is
recorded in transfer.json and carried by every checkpoint, and a resume keeps it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolo_transfer import windows
from yolo_transfer.training.api import train_preset as train

FAST = dict(imgsz=64, batch=8, device="cpu", workers=0, plots=False, verbose=False, seed=0)


@pytest.fixture(scope="module")
def synth12(synth_yaml, tmp_path_factory) -> Path:
    """The synthetic set with every image as a 16-bit PNG holding 12-bit values (8-bit pixels x 16)."""
    root = tmp_path_factory.mktemp("synth12") / "data"
    shutil.copytree(synth_yaml.parent, root, ignore=shutil.ignore_patterns("*.cache"))
    for p in (root / "images").rglob("*.png"):
        cv2.imwrite(str(p), cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.uint16) * 16)
    yaml = root / synth_yaml.name
    yaml.write_text(synth_yaml.read_text().replace(str(synth_yaml.parent), str(root)))
    return yaml


def test_a_12_bit_run_trains_on_the_8_bit_pixels_and_records_its_window(synth12, synth_yaml, tmp_path):
    seen = {}

    def first_image(tr):
        ds = tr.train_loader.dataset
        im, _, _ = ds.load_image(0)
        original = Path(str(ds.im_files[0]).replace(str(synth12.parent), str(synth_yaml.parent)))
        seen["train"] = (im, cv2.imread(str(original)))

    r = train("yolo11n.yaml", synth12, preset="full", epochs=1, project=tmp_path,
              callbacks={"on_train_start": first_image}, **FAST)
    assert r.ok, r.error
    im, original = seen["train"]
    np.testing.assert_array_equal(im, original)  # Ultralytics' own reader would give original // 16
    assert r.transfer["window"] == {"low": 0, "high": 4095, "source": "auto"}
    for name in ("best.pt", "last.pt"):
        ck = torch.load(r.run_dir / "weights" / name, weights_only=False)
        assert windows.of_model(ck["model"] if ck.get("ema") is None else ck["ema"]).high == 4095, name
    # outside a run, Ultralytics' datasets read as Ultralytics does
    import ultralytics.data.base as base

    assert base.imread(str(next((synth12.parent / "images").rglob("*.png"))))[0].max() <= 16


def test_a_dicom_dataset_trains_on_the_same_pixels(synth_yaml, tmp_path):
    """A YOLO dataset whose images are 12-bit DICOM files (Ultralytics lists no .dcm): found, label-checked from the
    header, read through the run's window, so the loader sees the 8-bit originals' pixels."""
    pytest.importorskip("pydicom", reason="the dicom extra is not installed (pip install 'yolo-transfer[dicom]')")
    from ultralytics.data.utils import IMG_FORMATS

    from yolo_transfer.utils import dicom

    root = tmp_path / "dcm"
    shutil.copytree(synth_yaml.parent, root, ignore=shutil.ignore_patterns("*.cache"))
    for p in list((root / "images").rglob("*.png")):
        dicom.write(p.with_suffix(".dcm"), cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16, bits=12)
        p.unlink()
    yaml = root / synth_yaml.name
    yaml.write_text(synth_yaml.read_text().replace(str(synth_yaml.parent), str(root)))
    seen = {}

    def first_image(tr):
        ds = tr.train_loader.dataset
        seen["n"], seen["files"] = len(ds.im_files), ds.im_files
        seen["im"] = ds.load_image(0)[0]

    r = train("yolo11n.yaml", yaml, preset="full", epochs=1, project=tmp_path / "runs",
              callbacks={"on_train_start": first_image}, **FAST)
    assert r.ok, r.error
    assert seen["n"] == len(list((synth_yaml.parent / "images" / "train").glob("*.png")))
    original = cv2.imread(str(synth_yaml.parent / "images" / "train" / (Path(seen["files"][0]).stem + ".png")),
                          cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(seen["im"][..., 0], original)
    assert r.transfer["window"] == {"low": 0, "high": 4095, "source": "auto"}
    assert "dcm" not in IMG_FORMATS  # Ultralytics' own list is back as it was after the run


def test_an_over_limit_dicom_is_dropped_by_the_label_check(tmp_path):
    """A DICOM whose header is over the pixel limit fails Ultralytics' label check (dropped as corrupt, with its
    warning) before any pixel is decoded; inside a run only."""
    pytest.importorskip("pydicom", reason="the dicom extra is not installed (pip install 'yolo-transfer[dicom]')")
    import ultralytics.data.utils as data_utils

    from yolo_transfer.training.reader import reading
    from yolo_transfer.utils import dicom
    from yolo_transfer.utils.imageread import pixel_limit

    p = dicom.write(tmp_path / "big.dcm", np.zeros((40, 50), np.uint16), bits=12)
    with reading(None):
        assert data_utils.check_image(str(p)) == ("", (40, 50))
        with pixel_limit(1000), pytest.raises(AssertionError, match="too many pixels"):
            data_utils.check_image(str(p))
