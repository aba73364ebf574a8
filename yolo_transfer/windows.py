"""The intensity window recorded with a model: one mapping from training to deployment (docs: Medical and industrial
images). A run on images above 8 bits measures or takes its `Window` once, trains with it, and writes it into the
`.pt` (a model attribute, so it survives copying the file) and every export's metadata (ONNX, OpenVINO, TensorRT);
`predict` and the parity gate read it back and apply it without a flag. A folder whose bit depth or range contradicts
the recorded window is refused in one line unless the user passes `--window`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from yolo_transfer.errors import UserError
from yolo_transfer.utils.imageread import Depth, Window, measure, percentile_window

ATTR = "pixel_window"  # on the DetectionModel of a .pt
KEY = "pixel_window"  # in an export's metadata
SAMPLE = 32  # images measured for `auto` and for the contradiction check: enough to see the range, cheap to read


def stamp(model, window: Window | None) -> None:
    """Record `window` on a torch model (None: 8-bit data, nothing to record)."""
    if window is not None:
        setattr(model, ATTR, window.to_dict())


def of_model(model) -> Window | None:
    return Window.from_dict(getattr(model, ATTR, None))


def of_metadata(meta: dict) -> Window | None:
    raw = (meta or {}).get(KEY)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw.replace("'", '"'))
        except ValueError:
            return None
    return Window.from_dict(raw) if isinstance(raw, dict) else None


def of_export(path: str | os.PathLike) -> Window | None:
    from yolo_transfer.heads import export_metadata

    return of_metadata(export_metadata(path))


def metadata(window: Window | None) -> dict[str, str]:
    """What an export carries (ONNX property values are strings; Ultralytics' readers literal-eval them)."""
    return {KEY: str(window.to_dict())} if window is not None else {}


def choose(recorded: Window | None, option: str | Window | None, paths: Sequence, what: str) -> Window | None:
    """The window to read `paths` with: `option` (`LOW,HIGH`, a `Window`, or `auto`: measured from `paths`) wins;
    else the model's `recorded` window, refused where the images contradict it; else `auto` for images above 8
    bits (None for 8-bit images: read as they are)."""
    if isinstance(option, Window):
        return option
    if isinstance(option, str) and option.lower().startswith("p"):
        return _percentiles(option, paths, what)
    if option not in (None, "", "auto"):
        return Window.parse(str(option))
    depth = measure(paths, SAMPLE)
    if option == "auto" or recorded is None:
        return depth.window if depth else None
    _check(recorded, depth, what)
    return recorded


def _percentiles(option: str, paths: Sequence, what: str) -> Window:
    """`pLOW,pHIGH`: the window between those percentiles of the images' values (`percentile_window`)."""
    try:
        low, high = (float(v.strip().lower().lstrip("p")) for v in option.split(","))
    except ValueError:
        low = high = -1.0
    if not 0 <= low < high <= 100:
        raise UserError(f"--window {option}: give two percentiles pLOW,pHIGH with 0 <= LOW < HIGH <= 100 "
                        f"(e.g. p0.5,p99.5)")
    window = percentile_window(paths, low, high, SAMPLE)
    if window is None:
        raise UserError(f"--window {option}: {what}: no readable image to measure the percentiles on")
    return window


def _check(recorded: Window, depth: Depth | None, what: str) -> None:
    if depth is None or recorded.source == "dicom":
        return
    told = "pass --window LOW,HIGH (or auto) to read them anyway"
    if depth.bits == 8:
        raise UserError(f"{what}: 8-bit images, but the model was trained on images above 8 bits (window "
                        f"{recorded}); {told}")
    if depth.integer and depth.vmax > recorded.high * 2 + 1:
        raise UserError(f"{what}: values up to {depth.vmax:g} ({depth.used_bits}-bit), but the model's window is "
                        f"{recorded} ({recorded.bits}-bit): they would saturate; {told}")
