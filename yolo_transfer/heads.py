"""Which detection head a model runs, so both sides of every comparison run the same one.

YOLO26 carries two heads: the one-to-many head (boxes then NMS, what Ultralytics runs by default, `nms=None`) and
the NMS-free one-to-one head (`nms=False`, "end-to-end"). An export can also bake NMS into the graph behind the
one-to-many head (`nms=True`). A `.pt` and its export only give the same boxes when they run the same head, so
export, the parity gate and predict name it explicitly (`HEADS`) and record it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ONE2MANY = "one2many"  # one-to-many head, NMS after the model (Ultralytics' default: nms=None)
END2END = "end2end"  # YOLO26's NMS-free one-to-one head (nms=False)
NMS = "nms"  # one-to-many head with NMS inside the exported graph (nms=True)
HEADS = (ONE2MANY, END2END, NMS)
TITLES = {ONE2MANY: "one-to-many head + NMS", END2END: "NMS-free one-to-one head (end-to-end)",
          NMS: "one-to-many head, NMS in the graph"}


def requested(end2end: bool = False, nms: bool = False) -> str:
    """The head an export is asked for: `end2end` and `nms` are exclusive (an NMS-free head has no NMS to bake)."""
    from yolo_transfer.errors import UserError

    if end2end and nms:
        raise UserError("--end2end and --nms exclude each other: the NMS-free head has no NMS to bake in; choose one")
    return END2END if end2end else NMS if nms else ONE2MANY


def ultralytics_nms(head: str) -> bool | None:
    """Ultralytics 8.4's three-valued `nms=` for a head mode."""
    return {ONE2MANY: None, END2END: False, NMS: True}[head]


def has_end2end(model) -> bool:
    """Whether a loaded model (Ultralytics `YOLO`, `DetectionModel` or its head) has YOLO26's one-to-one head."""
    net = getattr(model, "model", model)  # YOLO -> DetectionModel
    head = net.model[-1] if hasattr(net, "model") and hasattr(net.model, "__getitem__") else net
    return getattr(head, "one2one_cv2", None) is not None


def export_metadata(path: str | os.PathLike) -> dict:
    """The metadata Ultralytics stores with an export (ONNX properties, OpenVINO's metadata.yaml, TensorRT's JSON
    header); {} when there is none or it cannot be read (the loader will then say why)."""
    import ast

    p = Path(path)
    try:
        if p.is_dir() or p.suffix == ".xml":
            import yaml

            meta = (p if p.is_dir() else p.parent) / "metadata.yaml"
            return (yaml.safe_load(meta.read_text()) or {}) if meta.is_file() else {}
        if p.suffix == ".onnx":
            import onnx

            out = {}
            for prop in onnx.load(str(p), load_external_data=False).metadata_props:
                try:
                    out[prop.key] = ast.literal_eval(prop.value)
                except (ValueError, SyntaxError):
                    out[prop.key] = prop.value
            return out
        if p.suffix == ".engine":
            with open(p, "rb") as f:
                size = int.from_bytes(f.read(4), byteorder="little")
                return json.loads(f.read(size).decode("utf-8")) if 0 < size < 1 << 20 else {}
    except Exception:  # noqa: BLE001 - unreadable metadata: the head is then unknown, the loader reports the file
        return {}
    return {}


def of_export(path: str | os.PathLike) -> str:
    """The head an export really has, from its metadata: Ultralytics records `end2end` after any fallback (formats
    without top-k, TensorRT INT8 on JetPack 6, TensorRT < 8.5) and `args.nms` for an NMS export."""
    meta = export_metadata(path)
    args = meta.get("args") or {}
    if meta.get("end2end") in (True, "True", "true"):
        return END2END
    if args.get("nms") in (True, "True", "true"):
        return NMS
    return ONE2MANY


def mismatch(asked: str, got: str, what: str) -> str:
    """One line for an export whose head is not the one asked for, with the fix."""
    fix = ("export without --end2end (this format/precision has no NMS-free head here)" if asked == END2END
           else "re-export with --end2end" if got == END2END else "re-export with the same head options")
    return f"{what} runs the {TITLES[got]}, not the {TITLES[asked]} asked for: {fix}"
