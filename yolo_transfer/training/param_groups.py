"""Learning-rate multiples per layer, on top of the optimizer Ultralytics builds.

Ultralytics makes three groups (weights with decay, norm weights, biases; MuSGD adds more). `split_by_lr_scale`
splits each of them by the plan's per-layer multiple, keeping every other setting, and records `lr_scale` on the
group. Because Ultralytics' scheduler and warm-up both compute a group's lr from its `initial_lr`, the multiples
survive them, with one exception: bias groups warm up from the single `warmup_bias_lr`. `sync_bias_warmup`
rescales that starting point per group, so the ratio holds at every step.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
from torch import nn, optim


def split_by_lr_scale(optimizer: optim.Optimizer, model: nn.Module, lr_scale: Sequence[float]) -> optim.Optimizer:
    if all(s == 1.0 for s in lr_scale):
        return optimizer
    layer_of = {id(p): i for i, layer in enumerate(getattr(model, "module", model).model) for p in layer.parameters()}
    new_groups = []
    for group in optimizer.param_groups:
        by_scale: dict[float, list] = defaultdict(list)
        for p in group["params"]:
            by_scale[float(lr_scale[layer_of[id(p)]]) if id(p) in layer_of else 1.0].append(p)
        for scale in sorted(by_scale, reverse=True):
            g = {k: v for k, v in group.items() if k != "params"}
            g.update(params=by_scale[scale], lr=group["lr"] * scale, lr_scale=scale)
            new_groups.append(g)
    optimizer.param_groups.clear()  # state is still empty here, so regrouping loses nothing
    for g in new_groups:
        optimizer.add_param_group(g)
    return optimizer


def sync_bias_warmup(optimizer: optim.Optimizer, warmup_bias_lr: float, lf_epoch: float) -> None:
    """During warm-up, start each scaled bias group from `warmup_bias_lr * lr_scale` instead of the shared value.

    The warm-up progress `f` is read off a non-bias group (whose lr rises linearly from 0 to its target), so this
    needs no access to the trainer's loop variables; after warm-up `f == 1` and nothing changes.
    """
    if not warmup_bias_lr or lf_epoch <= 0:
        return
    ref = next((g for g in optimizer.param_groups if g.get("param_group") != "bias" and g.get("initial_lr")), None)
    if ref is None:
        return
    f = float(np.clip(ref["lr"] / (ref["initial_lr"] * lf_epoch), 0.0, 1.0))
    for g in optimizer.param_groups:
        s = g.get("lr_scale", 1.0)
        if g.get("param_group") == "bias" and s != 1.0 and "initial_lr" in g:
            target = g["initial_lr"] * lf_epoch
            g["lr"] = s * warmup_bias_lr + f * (target - s * warmup_bias_lr)


def describe(optimizer: optim.Optimizer) -> list[dict]:
    return [
        {"group": i, "kind": g.get("param_group", ""), "lr_scale": g.get("lr_scale", 1.0), "params": len(g["params"]),
         "lr": g["lr"], "weight_decay": g.get("weight_decay", 0.0)}
        for i, g in enumerate(optimizer.param_groups)
    ]
