import numpy as np
import pytest
import torch
from torch import nn

from yolo_transfer.training.param_groups import split_by_lr_scale, sync_bias_warmup


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 2, 1))


def _optimizer(model):
    w = [m.weight for m in model.model]
    b = [m.bias for m in model.model]
    return torch.optim.SGD([{"params": w, "param_group": "weight"}, {"params": b, "param_group": "bias"}], lr=0.01, momentum=0.9)


def test_split_keeps_every_parameter_once_and_scales_lr():
    model = Tiny()
    opt = split_by_lr_scale(_optimizer(model), model, [0.1, 0.5, 1.0])
    seen = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(0.01 * g["lr_scale"])
    assert {g["lr_scale"] for g in opt.param_groups} == {0.1, 0.5, 1.0}


def test_ratios_hold_through_ultralytics_style_warmup_and_scheduler():
    model = Tiny()
    opt = split_by_lr_scale(_optimizer(model), model, [0.1, 0.5, 1.0])
    lf = lambda e: 1 - 0.5 * e / 10  # noqa: E731 - a linear schedule like Ultralytics'
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    nw, warmup_bias_lr = 20, 0.1
    for epoch in range(3):
        for ni in range(epoch * 10, epoch * 10 + 10):
            if ni <= nw:  # the same interpolation Ultralytics' loop does
                for g in opt.param_groups:
                    start = warmup_bias_lr if g["param_group"] == "bias" else 0.0
                    g["lr"] = float(np.interp(ni, [0, nw], [start, g["initial_lr"] * lf(epoch)]))
            sync_bias_warmup(opt, warmup_bias_lr, lf(epoch))
            for kind in ("weight", "bias"):
                ref = next(g for g in opt.param_groups if g["param_group"] == kind and g["lr_scale"] == 1.0)
                for g in opt.param_groups:
                    if g["param_group"] == kind:
                        assert g["lr"] == pytest.approx(ref["lr"] * g["lr_scale"], rel=1e-9), (epoch, ni, kind)
        sched.step()
