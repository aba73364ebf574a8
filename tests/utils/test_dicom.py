"""DICOM through the one reader, `predict` and `data stats`/`check`, on pydicom's own bundled CT and MR files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="the dicom extra is not installed (pip install 'yolo-transfer[dicom]')")
from pydicom.data import get_testdata_file  # noqa: E402

from yolo_transfer.utils import dicom  # noqa: E402
from yolo_transfer.utils.imageread import BadImage, Window, read_image, read_raw  # noqa: E402

CT, MR = get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small.dcm")


def test_modality_units_and_the_files_own_window():
    ds = pydicom.dcmread(CT)
    raw = read_raw(CT)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(raw, expected)  # Hounsfield units
    w = dicom.window(MR)  # centre 600, width 1600, as DICOM's linear VOI function spans it
    assert (w.low, w.high, w.source) == (-200, 1399, "dicom")
    img = read_image(MR)
    np.testing.assert_array_equal(img[..., 0], w.apply(read_raw(MR)))
    # a run's explicit window wins over the file's tags
    np.testing.assert_array_equal(read_image(MR, Window(0, 4095))[..., 0], Window(0, 4095).apply(read_raw(MR)))


def test_monochrome1_is_inverted(tmp_path):
    ds = pydicom.dcmread(MR)
    ds.PhotometricInterpretation = "MONOCHROME1"
    p = tmp_path / "mono1.dcm"
    ds.save_as(p)
    a, b = read_raw(MR), read_raw(p)
    np.testing.assert_array_equal(b, a.max() + a.min() - a)


def test_missing_codec_and_damage_are_one_line():
    with pytest.raises(BadImage, match="no codec for JPEG-LS.*pip install pylibjpeg"):
        try:
            read_raw(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))
        except Exception as e:
            if not isinstance(e, BadImage):
                raise
            if "no codec" not in str(e):
                pytest.skip(f"a JPEG-LS codec is installed here ({e})")
            raise
    with pytest.raises(BadImage, match="DICOM pixel data unreadable"):
        read_raw(get_testdata_file("MR_truncated.dcm"))


def test_predict_on_a_dicom_folder(coco26_pt, tmp_path):
    from yolo_transfer.inference.api import predict

    src = tmp_path / "dcm"
    src.mkdir()
    for f in (CT, MR, get_testdata_file("MR_truncated.dcm")):
        shutil.copy(f, src / Path(f).name)
    s = predict(coco26_pt, src, tmp_path / "out", device="cpu", imgsz=128, show_progress=False)
    rows = {Path(json.loads(line)["image"]).name: json.loads(line)
            for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()}
    assert set(rows) == {"CT_small.dcm", "MR_small.dcm"} and s.errors == 1
    assert (rows["CT_small.dcm"]["width"], rows["CT_small.dcm"]["height"]) == (128, 128)
    assert rows["CT_small.dcm"]["sop_instance_uid"] == str(pydicom.dcmread(CT).SOPInstanceUID)
    assert rows["CT_small.dcm"]["frame"] == 0
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.json*"))
    ds = pydicom.dcmread(CT)
    for tag in ("PatientName", "PatientID", "PatientBirthDate"):  # nothing about the patient reaches an output
        value = str(getattr(ds, tag, "") or "")
        assert not value or value not in text, tag


def test_stats_and_check_report_bit_depth(tmp_path):
    from yolo_transfer.data.check import check_dataset
    from yolo_transfer.data.stats import dataset_stats

    root = tmp_path / "ds"
    for split, f in (("train", CT), ("val", MR)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        shutil.copy(f, root / "images" / split / Path(f).name)
        (root / "labels" / split / f"{Path(f).stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames: ['lesion']\n")
    st = dataset_stats(root / "data.yaml")
    assert st.splits["train"].image_sizes == {"128x128": 1} and st.splits["val"].pixels["bits"] == 16
    rep = check_dataset(root / "data.yaml", near_duplicates=False)
    assert rep.pixels["val"]["bits"] == 16 and not rep.errors


def test_a_multi_frame_file_is_listed_and_read_by_frame(tmp_path):
    from yolo_transfer.inference.sources import list_images

    ds = pydicom.dcmread(MR)
    frames = [ds.pixel_array + k for k in range(3)]
    ds.NumberOfFrames = 3
    ds.PixelData = np.stack(frames).astype(frames[0].dtype).tobytes()
    p = tmp_path / "multi.dcm"
    ds.save_as(p)
    refs = list_images(tmp_path)
    assert [r.rel for r in refs] == ["multi.dcm#0", "multi.dcm#1", "multi.dcm#2"]
    np.testing.assert_array_equal(read_raw(refs[2].path), frames[2])
    with pytest.raises(BadImage, match="no frame 3"):
        read_raw(f"{p}#3")


def test_a_dicom_over_the_pixel_limit_is_refused_before_decoding(monkeypatch):
    from yolo_transfer.utils import imageread

    monkeypatch.setenv(imageread.MAX_PIXELS_ENV, "10000")
    with pytest.raises(imageread.TooLarge, match="too many pixels: 128 x 128 = 16,384, over the limit of 10,000"):
        read_raw(CT)


def test_data_convert_takes_coco_labels_that_name_dicom_files(tmp_path):
    """COCO JSON naming .dcm files without width/height: sizes come from each DICOM header (rows x columns, not
    swapped), the files are copied as they are, and the dataset trains as is (tests/training/test_window.py)."""
    from click.testing import CliRunner

    from yolo_transfer.cli import main

    src = tmp_path / "coco"
    (src / "images").mkdir(parents=True)
    dicom.write(src / "images" / "a.dcm", np.full((40, 100), 2000, np.uint16), bits=12)  # 100 wide, 40 high
    (src / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.dcm"}], "categories": [{"id": 1, "name": "lesion"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 20], "iscrowd": 0}]}))
    r = CliRunner().invoke(main, ["data", "convert", str(src), str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    label = next((tmp_path / "out" / "labels").rglob("a.txt")).read_text().split()
    assert [float(v) for v in label[1:]] == pytest.approx([0.35, 0.5, 0.5, 0.5])
    copied = next((tmp_path / "out" / "images").rglob("a.dcm"))
    assert copied.read_bytes() == (src / "images" / "a.dcm").read_bytes()
