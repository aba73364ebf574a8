"""DICOM frames as images (the optional `dicom` extra: pydicom; compressed transfer syntaxes need a pylibjpeg codec).

A frame comes back in modality units (rescale slope/intercept applied: Hounsfield units for CT), MONOCHROME1 inverted
so that bright means dense as in MONOCHROME2, and the file's own window (centre/width tags) is offered by `window`.
Only pixel data and the tags named here are read; no patient-identifying tag leaves this module (`identity` returns
the SOPInstanceUID alone, which identifies the image, not the patient).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yolo_transfer.errors import UserError

EXTRA = "pip install 'yolo-transfer[dicom]'"
CODECS = "pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg"


def _pydicom():
    try:
        import pydicom
    except ImportError:
        raise UserError(f"reading DICOM needs pydicom: {EXTRA}") from None
    return pydicom


def _open(path: str, pixels: bool):
    from yolo_transfer.utils.imageread import BadImage

    pydicom = _pydicom()
    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (OSError, pydicom.errors.InvalidDicomError, ValueError, EOFError) as e:
        raise BadImage(f"not a readable DICOM file: {e}") from None


def shape(path: str | Path) -> tuple[int, int, int]:
    """(width, height, frames), from one read of the header."""
    ds = _open(str(path), pixels=False)
    return int(getattr(ds, "Columns", 0)), int(getattr(ds, "Rows", 0)), int(getattr(ds, "NumberOfFrames", 1) or 1)


def frames(path: str | Path) -> int:
    """How many frames the file holds (header only)."""
    return shape(path)[2]


def size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a frame, from the header."""
    return shape(path)[:2]


def identity(path: str | Path) -> dict:
    """What keys a result: the SOPInstanceUID (an image identifier) and the frame count; nothing about the patient."""
    ds = _open(str(path), pixels=False)
    return {"sop_instance_uid": str(getattr(ds, "SOPInstanceUID", "")), "frames": int(getattr(ds, "NumberOfFrames", 1) or 1)}


def read(path: str | Path, frame: int = 0) -> np.ndarray:
    """One frame in modality units (float32, or the stored integers where no rescale applies), after the pixel
    limit; MONOCHROME1 inverted; colour frames as BGR."""
    from yolo_transfer.utils.imageread import BadImage, TooLarge, too_large

    ds = _open(str(path), pixels=True)  # the pixel bytes as stored; nothing is decoded before the checks below
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    refusal = too_large(int(getattr(ds, "Columns", 0)), int(getattr(ds, "Rows", 0)), n)
    if refusal:
        raise TooLarge(refusal)
    if frame >= n:
        raise BadImage(f"no frame {frame} (the file has {n})")
    try:
        arr = ds.pixel_array
    except Exception as e:  # pydicom names the missing decoder plugin in a long message
        msg = str(e).strip().splitlines()[0][:160]
        if "plugin" in msg.lower() or "decompress" in msg.lower() or "decoder" in msg.lower():
            syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
            raise BadImage(f"no codec for {getattr(syntax, 'name', syntax)}: {CODECS}") from None
        raise BadImage(f"DICOM pixel data unreadable: {msg}") from None
    if n > 1:
        arr = arr[frame]
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if arr.ndim == 3:  # colour: pydicom gives RGB (YBR converted)
        return np.ascontiguousarray(arr[..., ::-1])
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    if (slope, intercept) != (1.0, 0.0):
        arr = arr.astype(np.float32) * slope + intercept
    if photometric == "MONOCHROME1":
        arr = arr.max() + arr.min() - arr
    return arr


def window(path: str | Path):
    """The file's own window (first WindowCenter/WindowWidth, as DICOM's linear VOI function spans it), or None."""
    from yolo_transfer.utils.imageread import Window

    ds = _open(str(path), pixels=False)
    c, w = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if c is None or w is None:
        return None
    first = (lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str) else float(v))
    c, w = first(c), max(first(w), 1.0)
    return Window(c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2, "dicom")


def write(path: str | Path, pixels: np.ndarray, bits: int = 16) -> Path:
    """Save a grayscale frame as an uncompressed Secondary Capture DICOM file (`bits` stored in 16), with a fresh
    SOPInstanceUID and no patient tags: for making test sets and demos from ordinary images."""
    _pydicom()
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    if pixels.ndim != 2 or not 1 <= bits <= 16 or int(pixels.max(initial=0)) >= 2**bits or int(pixels.min(initial=0)) < 0:
        raise ValueError(f"expected a 2-D frame of unsigned {bits}-bit values")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID = SecondaryCaptureImageStorage, ExplicitVRLittleEndian
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PhotometricInterpretation, ds.SamplesPerPixel = "OT", "MONOCHROME2", 1
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)
