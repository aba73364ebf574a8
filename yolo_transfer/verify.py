"""Proof that frozen means frozen: every tensor of every never-trained layer in the saved checkpoints is compared,
bit for bit in the checkpoint's dtype, with the source checkpoint (or, for tensors the source does not have, the
snapshot taken when training started). BatchNorm running statistics count as frozen tensors unless the run used
`--bn-policy train`, which lets them move by design.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import torch

from yolo_transfer.presets import FreezePlan

REFERENCE_FILE = "frozen_reference.pt"
BN_STATS = ("running_mean", "running_var")


def _layer(key: str) -> int | None:
    parts = key.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "model" and parts[1].isdigit() else None


def frozen_keys(state_dict: Mapping[str, torch.Tensor], plan: FreezePlan, bn_policy: str,
                held: tuple[str, ...] = ()) -> list[str]:
    """Tensors that must come out of training bit-identical: those of the layers the plan never trains, and `held`
    ones (name prefixes) inside trained layers."""
    never, held = plan.never_trained, tuple(held)
    return [k for k, v in state_dict.items() if v.dtype.is_floating_point and (_layer(k) in never or k.startswith(held))
            and not (bn_policy == "train" and k.endswith(BN_STATS))]


@dataclass
class Verification:
    ok: bool
    checked_tensors: int
    checkpoints: list[str]
    changed: list[str] = field(default_factory=list)  # "best.pt:model.3.conv.weight"
    missing: list[str] = field(default_factory=list)
    reference: dict[str, int] = field(default_factory=dict)  # how many tensors came from each reference
    trainable_changed: int = 0
    trainable_unchanged: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _model(path: str | Path):
    from yolo_transfer.safeload import load

    ckpt = load(path)
    return ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else ckpt


def load_model(path: str | Path):
    """The model an Ultralytics checkpoint holds (its EMA where saved), in FP32 and eval mode (loaded restricted
    unless trusted: `yolo_transfer.safeload`)."""
    return _model(path).float().eval()


def verify_run(weights_dir: Path, plan: FreezePlan, bn_policy: str, source: Path | None,
               held: tuple[str, ...] = ()) -> Verification:
    weights_dir = Path(weights_dir)
    ckpts = [p for p in (weights_dir / "best.pt", weights_dir / "last.pt") if p.exists()]
    if not ckpts:
        return Verification(False, 0, [], note=f"no checkpoint in {weights_dir}")
    # raw tensors in the dtype each checkpoint was saved in
    src = _model(source).state_dict() if source is not None and Path(source).suffix == ".pt" else {}
    ref_file = weights_dir / REFERENCE_FILE
    snapshot = torch.load(ref_file, map_location="cpu", weights_only=True) if ref_file.exists() else {}
    result = Verification(True, 0, [p.name for p in ckpts])
    trained = set(range(plan.num_layers)) - plan.never_trained
    for ckpt in ckpts:
        out = _model(ckpt).state_dict()
        keys = frozen_keys(out, plan, bn_policy, held)
        counts = {"source checkpoint": 0, "start snapshot": 0}
        for k in keys:
            v = out[k]
            if k in src and src[k].shape == v.shape:
                ref, counts["source checkpoint"] = src[k], counts["source checkpoint"] + 1
            elif k in snapshot:
                ref, counts["start snapshot"] = snapshot[k], counts["start snapshot"] + 1
            else:
                result.missing.append(f"{ckpt.name}:{k}")
                continue
            result.checked_tensors += 1
            if not torch.equal(ref.to(v.dtype), v):
                result.changed.append(f"{ckpt.name}:{k}")
        result.reference = counts
        if ckpt.name == "last.pt" and src:  # the trained side moved at all? (a sanity signal, not a gate)
            for k, v in out.items():
                if (_layer(k) in trained and k.endswith("weight") and ".dfl." not in k and k in src
                        and src[k].shape == v.shape and not k.startswith(tuple(held))):
                    if torch.equal(src[k].to(v.dtype), v):
                        result.trainable_unchanged.append(k)
                    else:
                        result.trainable_changed += 1
    result.ok = not result.changed and not result.missing
    return result
