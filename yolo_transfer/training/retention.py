"""Retention: how much of what the checkpoint knew a trained model kept, measured on data labelled with its classes.

The source classes' mAP50-95 of the source checkpoint (before) and of the trained model (after) on the val split of
`retention_data` (e.g. coco128 for a COCO model), matched by class name, so a model whose names table lost a class
scores 0 for it; retention = after / before. Beside it the new classes' mAP50-95 from the run's own final validation.
Measured per keep-classes method: docs/evidence/keep.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from yolo_transfer.errors import UserError


def check_retention_data(data: str | os.PathLike, source_names: Mapping[int, str] | None):
    """The retention set must exist and be labelled with some of the checkpoint's classes."""
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.training.keep import norm_name as _norm

    spec = check_data_yaml(data)
    if source_names is None:
        raise UserError(f"--retention-data {data}: retention measures a checkpoint's classes; start from a .pt")
    src = {_norm(n) for n in source_names.values()}
    if not any(_norm(n) in src for n in spec.names):
        raise UserError(f"--retention-data {data}: none of its classes ({', '.join(list(spec.names)[:4])} ...) is one "
                        f"of the checkpoint's; give a dataset labelled with the checkpoint's classes (e.g. coco128.yaml "
                        f"for a COCO model)")
    if not spec.require_images("val"):
        raise UserError(f"--retention-data {data}: its val split has no images")
    return spec


def _per_class_map(model_path: str | os.PathLike, spec, imgsz: int, device: str, work: Path) -> dict[str, float]:
    """mAP50-95 per class name of `model_path` on `spec`'s val split, its labels re-keyed to the model's own ids by
    name (a class the model does not have is left out of its labels, and scores 0)."""
    from ultralytics import YOLO

    from yolo_transfer.training.keep import link_split, norm_name as norm
    from yolo_transfer.utils.console import ultralytics_logs_off
    from yolo_transfer.utils.io import atomic_write_yaml

    model = YOLO(str(model_path))
    ids = {norm(n): int(i) for i, n in dict(model.names).items()}
    mapping = {i: ids[norm(n)] for i, n in enumerate(spec.names) if norm(n) in ids}
    root = work / Path(model_path).stem
    present = {spec.names[c] for c in link_split(spec.require_images("val"), root, "val", mapping)}
    if not mapping:  # the model has none of these classes: each scores 0, nothing to validate
        return {n: 0.0 for n in sorted(present)}
    atomic_write_yaml(root / "data.yaml", {"path": str(root), "train": "images/val", "val": "images/val",
                                           "names": dict(model.names)})
    with ultralytics_logs_off(True):
        m = model.val(data=str(root / "data.yaml"), imgsz=imgsz, batch=8, device=device, plots=False,
                      verbose=False, workers=0, project=str(work), name="val", exist_ok=True)
    names = dict(model.names)
    out = {n: 0.0 for n in present}
    for k, c in enumerate(m.box.ap_class_index):
        out[str(names[int(c)])] = float(m.box.class_result(k)[3])
    return {n: out[n] for n in sorted(out) if n in present}


def measure_retention(source: str | os.PathLike, trained: str | os.PathLike, data: str | os.PathLike, *,
                      imgsz: int = 640, device: str | None = "cpu", new_classes: Sequence[str] = (),
                      final_val: Mapping | None = None) -> dict:
    """Source classes' mAP50-95 before (the checkpoint) and after (`trained`) on `data`'s val split; retention =
    after / before; plus the new classes' mAP50-95 from the run's final validation (`final_val`)."""
    from yolo_transfer.anatomy import load_detection_model

    spec = check_retention_data(data, dict(load_detection_model(source).model.names))
    work = Path(tempfile.mkdtemp(prefix="yt-retention-"))
    try:
        before = _per_class_map(source, spec, imgsz, device, work)
        after = _per_class_map(trained, spec, imgsz, device, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    classes = [c for c in before if c in after]
    b = sum(before[c] for c in classes) / max(len(classes), 1)
    a = sum(after[c] for c in classes) / max(len(classes), 1)
    per_new = {n: v["mAP50-95"] for n, v in ((final_val or {}).get("per_class") or {}).items() if n in set(new_classes)}
    return {"data": str(Path(data).resolve()), "classes": len(classes), "before": round(b, 5), "after": round(a, 5),
            "retention": round(a / b, 4) if b > 0 else None,
            "new_classes_map50_95": round(sum(per_new.values()) / len(per_new), 5) if per_new else None,
            "per_class_before": {c: round(before[c], 5) for c in classes},
            "per_class_after": {c: round(after[c], 5) for c in classes}}
