"""Output writers: where results go, one registered class per format (`--format jsonl,csv,coco,images,crops`).

Streamed files (JSONL, CSV, the errors file, the COCO journal) are append-only: `commit()` fsyncs them and returns
the byte offset the ledger records, so a resumed run cuts each back to it (`inference.resume`): no line lost or
written twice. Files written whole (COCO JSON, annotated images, crops, summaries) go through `atomic_write_*`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, ClassVar

import cv2
import numpy as np

from yolo_transfer.errors import UserError
from yolo_transfer.inference.pipeline import ImageResult
from yolo_transfer.inference.resume import STATE_DIR
from yolo_transfer.utils.io import atomic_write_bytes, atomic_write_json, naming_errors

WRITERS: dict[str, type[Writer]] = {}


def register(cls: type[Writer]) -> type[Writer]:
    WRITERS[cls.name] = cls
    return cls


class Writer:
    name: ClassVar[str]
    owns: ClassVar[tuple[str, ...]] = ()  # names in --out this writer creates (what --overwrite removes)
    needs_image: ClassVar[bool] = False  # the pipeline keeps decoded images only when a writer draws on them

    def __init__(self, out: Path, names: Mapping[int, str]):
        self.out = out
        self.names = dict(names)

    def start(self, offset: int | None) -> None:
        """`offset`: the committed size to resume from, or None to start fresh."""

    def write(self, r: ImageResult) -> None:
        raise NotImplementedError

    def commit(self) -> int | None:
        """Make everything written so far durable; return the offset to record (None: nothing to record)."""
        return None

    def finish(self) -> list[Path]:
        """Called once every image is done: write whole-file outputs, return the files/folders produced."""
        return []

    def close(self) -> None:
        pass

    def class_name(self, cid: int) -> str:
        return self.names.get(int(cid), str(int(cid)))


class _StreamWriter(Writer):
    """An append-only file whose committed size is kept in the ledger."""

    filename: ClassVar[str]
    header: ClassVar[bytes] = b""
    of_errors: ClassVar[bool] = False  # the stream of unusable images; every other stream holds the results
    f: BinaryIO | None = None

    @property
    def path(self) -> Path:
        return self.out / self.filename

    def start(self, offset: int | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if offset is None:
            self.f = open(self.path, "wb")
            self.f.write(self.header)
            return
        if not self.path.exists() or self.path.stat().st_size < offset:
            raise UserError(f"{self.path} is missing or shorter than the run's ledger says ({offset} bytes); "
                            f"rerun with --overwrite to start this output folder over")
        self.f = open(self.path, "r+b")
        self.f.truncate(offset)  # drop whatever the interrupted run wrote after its last commit
        self.f.seek(offset)

    def write(self, r: ImageResult) -> None:
        data = self.encode(r) if (r.error is not None) == self.of_errors else b""
        if data:
            with naming_errors(self.path):  # a full disk: the error line names this file
                self.f.write(data)

    def encode(self, r: ImageResult) -> bytes:
        raise NotImplementedError

    def commit(self) -> int:
        with naming_errors(self.path):
            self.f.flush()
            os.fsync(self.f.fileno())
        return self.f.tell()

    def finish(self) -> list[Path]:
        self.commit()
        return [self.path]

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def _line(obj) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@register
class JsonlWriter(_StreamWriter):
    """`predictions.jsonl`: one JSON object per image, `{"image", "width", "height", "detections": [...]}`; a DICOM
    frame also carries `sop_instance_uid` and `frame` (image identifiers, nothing about the patient)."""

    name = "jsonl"
    filename = "predictions.jsonl"
    owns = (filename,)

    def encode(self, r: ImageResult) -> bytes:
        h, w = r.shape
        return _line({"image": r.ref.path, "width": w, "height": h, **_dicom_keys(r.ref.path),
                      "detections": r.detections.to_records(self.names)})


def _dicom_keys(path: str) -> dict:
    from yolo_transfer.utils.imageread import DICOM_SUFFIXES, split_frame

    name, frame = split_frame(path)
    if not name.lower().endswith(DICOM_SUFFIXES):
        return {}
    from yolo_transfer.utils import dicom

    try:
        return {"sop_instance_uid": dicom.identity(name)["sop_instance_uid"], "frame": frame or 0}
    except Exception:  # noqa: BLE001 - the image decoded, so this is not expected; the result stands without it
        return {"frame": frame or 0}


@register
class CsvWriter(_StreamWriter):
    """`predictions.csv`: one row per detection; an image without detections still gets one row (empty box)."""

    name = "csv"
    filename = "predictions.csv"
    owns = (filename,)
    columns = ("image", "width", "height", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")
    header = (",".join(columns) + "\n").encode()

    def encode(self, r: ImageResult) -> bytes:
        h, w = r.shape
        buf = io.StringIO()
        rows = csv.writer(buf, lineterminator="\n")
        recs = r.detections.to_records(self.names)
        if not recs:
            rows.writerow([r.ref.path, w, h, "", "", "", "", "", "", ""])
        for d in recs:
            rows.writerow([r.ref.path, w, h, d["class_id"], d["class_name"], d["confidence"], *d["xyxy"]])
        return buf.getvalue().encode("utf-8")


class ErrorsWriter(_StreamWriter):
    """`errors.jsonl`: every image that could not be used, with the reason. Always on (not a --format)."""

    name = "errors"
    filename = "errors.jsonl"
    owns = (filename,)
    of_errors = True

    def encode(self, r: ImageResult) -> bytes:
        return _line({"image": r.ref.path, "error": r.error})


@register
class CocoWriter(_StreamWriter):
    """COCO results: `coco_results.json` (the standard detection-results list for `COCO.loadRes` / COCOeval)
    and `coco_images.json` (the image list and categories, a COCO dataset file with no annotations).

    `image_id` is the file's numeric stem when every stem is a distinct number (COCO's own naming, as Ultralytics
    does), else 1..N in sorted path order. `category_id` is the model's class id, named in `categories`.
    """

    name = "coco"
    filename = f"{STATE_DIR}/coco.journal.jsonl"  # streamed journal; the JSON files are assembled at the end
    owns = ("coco_results.json", "coco_images.json")

    def encode(self, r: ImageResult) -> bytes:
        d = r.detections
        xywh = np.concatenate([d.xyxy[:, :2], d.xyxy[:, 2:] - d.xyxy[:, :2]], 1).round(3)
        return _line({"image": r.ref.path, "file_name": r.ref.rel, "width": r.shape[1], "height": r.shape[0],
                      "bbox": xywh.tolist(), "score": d.confidence.round(5).tolist(),
                      "category_id": d.class_id.tolist()})

    def finish(self) -> list[Path]:
        self.commit()
        with open(self.path, encoding="utf-8") as f:
            entries = [json.loads(line) for line in f]
        entries.sort(key=lambda e: e["image"])
        stems = [Path(e["file_name"]).stem for e in entries]
        numeric = all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems)
        images, results = [], []
        for n, (e, stem) in enumerate(zip(entries, stems), 1):
            image_id = int(stem) if numeric else n
            images.append({"id": image_id, "file_name": e["file_name"], "width": e["width"], "height": e["height"],
                           "path": e["image"]})
            results += [{"image_id": image_id, "category_id": c, "bbox": b, "score": s}
                        for b, s, c in zip(e["bbox"], e["score"], e["category_id"])]
        categories = [{"id": k, "name": v} for k, v in sorted(self.names.items())]
        dataset = {"info": {"description": "yolo-transfer predict: image list"}, "images": images,
                   "categories": categories, "annotations": []}
        return [atomic_write_json(self.out / "coco_results.json", results, indent=None),
                atomic_write_json(self.out / "coco_images.json", dataset, indent=None)]


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "class"


def _encode_like(path: str, img: np.ndarray) -> bytes:
    ext = Path(path).suffix.lower() or ".jpg"
    ok, buf = cv2.imencode(ext, img)
    if not ok:
        ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


_PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
            (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0)]


@register
class AnnotatedImageWriter(Writer):
    """`annotated/<path relative to SOURCE>`: the image with its boxes and labels drawn (same format as input)."""

    name = "images"
    owns = ("annotated",)
    needs_image = True

    def write(self, r: ImageResult) -> None:
        if r.error is not None or r.image is None:
            return
        img = r.image.copy()
        thick = max(1, round(sum(img.shape[:2]) / 600))
        for box, conf, cid in zip(r.detections.xyxy.round().astype(int), r.detections.confidence,
                                  r.detections.class_id):
            color = _PALETTE[int(cid) % len(_PALETTE)]
            x1, y1, x2, y2 = box.tolist()
            cv2.rectangle(img, (x1, y1), (x2, y2), color, thick, cv2.LINE_AA)
            cv2.putText(img, f"{self.class_name(cid)} {conf:.2f}", (x1, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                        thick / 3, color, max(1, thick - 1), cv2.LINE_AA)
        atomic_write_bytes(self.out / "annotated" / r.ref.rel, _encode_like(r.ref.path, img))

    def finish(self) -> list[Path]:
        return [self.out / "annotated"]


@register
class CropWriter(Writer):
    """`crops/<class name>/<path relative to SOURCE without suffix>_<k>.jpg`: each detected box cut out."""

    name = "crops"
    owns = ("crops",)
    needs_image = True

    def write(self, r: ImageResult) -> None:
        if r.error is not None or r.image is None:
            return
        h, w = r.image.shape[:2]
        stem = str(Path(r.ref.rel).with_suffix(""))
        for k, (box, cid) in enumerate(zip(r.detections.xyxy, r.detections.class_id)):
            x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
            x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
            crop = r.image[max(0, y1):min(h, y2), max(0, x1):min(w, x2)]
            if crop.size:
                _, buf = cv2.imencode(".jpg", crop)
                atomic_write_bytes(self.out / "crops" / _safe(self.class_name(cid)) / f"{stem}_{k}.jpg", buf.tobytes())

    def finish(self) -> list[Path]:
        return [self.out / "crops"]


SUMMARY_FILES = ("summary.json", "summary.md")


def owned_names() -> tuple[str, ...]:
    """Every name a run may create in --out, whatever its formats."""
    return (*(n for cls in (*WRITERS.values(), ErrorsWriter) for n in cls.owns), *SUMMARY_FILES)


def parse_formats(formats: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if formats is None:
        return ("jsonl",)
    if isinstance(formats, str):
        formats = formats.split(",")
    names = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in names if f not in WRITERS]
    if unknown or not names:
        raise UserError(f"--format {','.join(unknown) or '(empty)'}: unknown; choose from {', '.join(WRITERS)}")
    return names
