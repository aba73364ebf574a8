"""The exact keep-classes method's head: the new classes' own copy of the layers a preset trains (`Branch`), run by
a `Detect` that feeds each class head both paths (`KeepDetect`). Built by `training.keep.graft`; a model saved with
them needs this module to unpickle."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from ultralytics.nn.modules.head import Detect


class Branch(nn.Module):
    """The source's layers from `start` to the head, copied: the new classes' own path, which trains while the
    source's stays frozen. It reads the source's outputs of layers before `start` (`ins`, in order) and returns its
    copies of the head's inputs (`outs`)."""

    def __init__(self, layers: Sequence[nn.Module], start: int, outs: Sequence[int]):
        super().__init__()
        self.m = nn.ModuleList(copy.deepcopy(list(layers)))
        self.start = start
        self.outs = list(outs)
        ins = {start - 1}
        for m in self.m:
            ins |= {j for j in _sources(m) if j < start}
        self.ins = sorted(ins)

    def forward(self, xs):
        y = dict(zip(self.ins, xs))
        x = y[self.start - 1]
        for m in self.m:
            if m.f != -1:
                x = [x if j == -1 else y[_absolute(j, m.i)] for j in ([m.f] if isinstance(m.f, int) else m.f)]
                x = x[0] if isinstance(m.f, int) else x
            x = m(x)
            y[m.i] = x
        return [y[j] for j in self.outs]


def _absolute(j: int, i: int) -> int:
    """A layer's `from` index as an absolute layer index (Ultralytics counts negatives back from the layer)."""
    return j if j >= 0 else i + j


def _sources(m) -> list[int]:
    return [_absolute(j, m.i) if j != -1 else m.i - 1 for j in ([m.f] if isinstance(m.f, int) else m.f)]


class KeepDetect(Detect):
    """Detect whose inputs are the source's features, then the layers its `branch` reads. Each level's two feature
    maps go on stacked by channel: box heads read the source's (the first `split[i]` channels), class heads both
    (`training.keep.ClassBranches`)."""

    def forward(self, x):
        n = self.nl
        x = [torch.cat([a, b], 1) for a, b in zip(x[:n], self.branch(x[n:]))]
        return super().forward(x)

    def forward_head(self, x, box_head=None, cls_head=None):
        if box_head is None or cls_head is None:  # as Detect: a head that fusion removed
            return {}
        bs = x[0].shape[0]
        boxes = torch.cat([box_head[i](x[i][:, : self.split[i]]).view(bs, 4 * self.reg_max, -1)
                           for i in range(self.nl)], dim=-1)
        scores = torch.cat([cls_head[i](x[i]).view(bs, self.nc, -1) for i in range(self.nl)], dim=-1)
        return {"boxes": boxes, "scores": scores, "feats": x}
