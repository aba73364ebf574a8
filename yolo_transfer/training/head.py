"""What happened to the Detect head when the source weights met the new classes.

Ultralytics copies every tensor whose shape matches, rebuilds the class branch at the source width when it can,
and (`cls_remap`) copies class rows by class name. This module (a) turns an explicit `--class-map` (target class ->
source class, for renamed classes) into the names Ultralytics matches on, and (b) records, per head tensor, whether
it was transferred as is, remapped by class, or re-initialised, by comparing the built model with the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from yolo_transfer.errors import UserError


def load_class_map(path: str | Path | None) -> dict[str, str]:
    if not path:
        return {}
    from yolo_transfer.utils.io import read_yaml_mapping

    p = Path(path)
    data = read_yaml_mapping(p, "class map")
    if not all(isinstance(v, (str, int)) for v in data.values()):
        raise UserError(f"class map {p}: expected 'target_class: source_class' lines")
    return {str(k): str(v) for k, v in data.items()}


def _norm(s: str) -> str:
    return str(s).strip().lower()


def check_class_map(class_map: Mapping[str, str], target: Mapping[int, str], source: Mapping[int, str] | None,
                    where: str = "--class-map") -> None:
    tgt = {_norm(n) for n in target.values()}
    bad = [k for k in class_map if _norm(k) not in tgt]
    if bad:
        raise UserError(f"{where}: target class(es) {bad} are not in the dataset's names {list(target.values())}")
    if source is not None:
        src = {_norm(n) for n in source.values()}
        bad = [v for v in class_map.values() if _norm(v) not in src]
        if bad:
            raise UserError(f"{where}: source class(es) {bad} are not in the checkpoint's names {list(source.values())}")


def names_for_load(target: Mapping[int, str], class_map: Mapping[str, str]) -> dict[int, str]:
    """Target names with mapped classes renamed to their source class, so Ultralytics' by-name remap finds them."""
    lookup = {_norm(k): v for k, v in class_map.items()}
    return {i: lookup.get(_norm(n), n) for i, n in target.items()}


def class_mapping(target: Mapping[int, str], source: Mapping[int, str] | None,
                  class_map: Mapping[str, str]) -> list[dict]:
    src_lookup = {_norm(v): (k, v) for k, v in (source or {}).items()}
    loaded = names_for_load(target, class_map)
    rows = []
    for i, name in target.items():
        hit = src_lookup.get(_norm(loaded[i]))
        rows.append({
            "target_id": int(i), "target": name,
            "source_id": int(hit[0]) if hit else None, "source": hit[1] if hit else None,
            "how": ("class-map" if _norm(name) in {_norm(k) for k in class_map} else "same name") if hit else "new",
        })
    return rows


def head_record(model: torch.nn.Module, source_sd: Mapping[str, torch.Tensor] | None, head_index: int,
                mapping: list[dict]) -> dict:
    """Status per head tensor: transferred | remapped (k of nc class rows from the source) | reinitialised."""
    prefix = f"model.{head_index}."
    nc = len(mapping)
    pairs = [(m["target_id"], m["source_id"]) for m in mapping if m["source_id"] is not None]
    tensors = {}
    counts = {"transferred": 0, "remapped": 0, "reinitialised": 0}
    for k, v in model.state_dict().items():
        if not k.startswith(prefix) or not v.dtype.is_floating_point or ".dfl." in k:
            continue
        src = None if source_sd is None else source_sd.get(k)
        v = v.detach().float().cpu()
        if src is not None and src.shape == v.shape and torch.equal(src.float().cpu(), v):
            status = "transferred"
        elif src is not None and v.shape[:1] == (nc,) and pairs and all(
            t < nc and s < len(src) and torch.equal(v[t], src[s].float().cpu()) for t, s in pairs
        ):
            status = "remapped"
        else:
            status = "reinitialised"
        counts[status] += 1
        tensors[k[len(prefix):]] = status
    return {"counts": counts, "tensors": tensors}
