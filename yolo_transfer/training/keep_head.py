"""The exact keep-classes method's head: the new classes' own copy of the layers a preset trains (`Branch`), and a
`Detect` that runs the checkpoint's path and theirs side by side, each on its own anchors (`KeepDetect`). Built by
`training.keep.graft`; a model saved with them needs this module to unpickle, and restricted loading allows exactly `SAFE_GLOBALS`."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from ultralytics.nn.modules.head import Detect


class Branch(nn.Module):
    """The source's layers from `start` to the head, copied: the new classes' own path, which trains while the
    source's stays frozen. It reads the source's outputs of layers before `start` (`ins`, in order) and returns the
    head's inputs (`outs`): its copies, or the source's own where a head input comes before `start`."""

    def __init__(self, layers: Sequence[nn.Module], start: int, outs: Sequence[int]):
        super().__init__()
        self.m = nn.ModuleList(copy.deepcopy(list(layers)))
        self.start = start
        self.outs = list(outs)
        ins = {start - 1} | {j for j in self.outs if j < start}  # a head input before `start` is the trunk's own
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


class HeadBranches(nn.Module):
    """One level of a box or class head: the checkpoint's branch (`old`, frozen) and the new classes' (`new`), which
    `KeepDetect` runs on their own features and anchors. (`forward` serves only class heads saved
    before the new classes had their own path: the two outputs stacked on one input.)"""

    def __init__(self, old: nn.Module, new: nn.Module):
        super().__init__()
        self.old = old
        self.new = new

    def forward(self, x):
        return torch.cat([self.old(x), self.new(x)], 1)


ClassBranches = HeadBranches  # the name checkpoints of the first exact runs were saved under


def _absolute(j: int, i: int) -> int:
    """A layer's `from` index as an absolute layer index (Ultralytics counts negatives back from the layer)."""
    return j if j >= 0 else i + j


def _sources(m) -> list[int]:
    return [_absolute(j, m.i) for j in ([m.f] if isinstance(m.f, int) else m.f)]  # -1: the layer before


NEVER = -20.0  # the logit an anchor gives the other path's classes: probability 2e-9, under any confidence threshold,
# and small enough that an INT8 scale over a tensor holding it still resolves real logits


class KeepDetect(Detect):
    """Detect with the new classes' own path beside the checkpoint's. Inputs: the checkpoint's features, then the
    layers `branch` reads (with no `branch` the new branches read the checkpoint's features). Each head's levels are
    `HeadBranches`: the old branches predict the old classes on the checkpoint's anchors, exactly as
    before; the new ones predict the new classes, with boxes of their own, on a second set of anchors that follows
    (`stride` lists the levels twice). Each set scores the other's classes at NEVER, so an old-class detection can
    only come from the checkpoint's path (new classes can still take some of the `max_det` slots after it)."""

    def forward(self, x):
        n = self.nl
        if self.branch is not None:  # stacked by channel, so Detect's own handling (detach for one2one) covers both
            x = [torch.cat([a, b], 1) for a, b in zip(x[:n], self.branch(x[n:]))]
        return super().forward(x)

    def forward_head(self, x, box_head=None, cls_head=None):
        if box_head is None or cls_head is None:  # as Detect: a head that fusion removed
            return {}
        if self.split is None:
            old, new = x, x
        else:
            old = [xi[:, :c] for xi, c in zip(x, self.split)]
            new = [xi[:, c:] for xi, c in zip(x, self.split)]
        bs, n_new = x[0].shape[0], self.nc - self.n_old
        boxes, scores = [], []
        for feats, path in ((old, "old"), (new, "new")):
            for i in range(self.nl):
                boxes.append(getattr(box_head[i], path)(feats[i]).view(bs, 4 * self.reg_max, -1))
                s = getattr(cls_head[i], path)(feats[i]).view(bs, self.n_old if path == "old" else n_new, -1)
                other = s.new_full((bs, n_new if path == "old" else self.n_old, s.shape[-1]), NEVER)
                scores.append(torch.cat([s, other] if path == "old" else [other, s], 1))
        return {"boxes": torch.cat(boxes, -1), "scores": torch.cat(scores, -1), "feats": old + new}

    def old_anchors(self, preds) -> int:
        """How many of the anchors in `preds` are the checkpoint's (they come first)."""
        return preds["boxes"].shape[-1] // 2


# every name a kept checkpoint may reference these classes by (`yolo_transfer.safeload` allows exactly these)
SAFE_GLOBALS = [(Branch, f"{__name__}.Branch"), (KeepDetect, f"{__name__}.KeepDetect"),
                (HeadBranches, f"{__name__}.HeadBranches"),
                *[(HeadBranches, f"yolo_transfer.training.keep.{n}") for n in ("HeadBranches", "ClassBranches")]]
