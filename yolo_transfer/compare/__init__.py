"""Compare transfer strategies on the user's own data: one `train()` per preset x seed x fraction, one report.

`yolo_transfer.compare(...)` is the public function. Because this package has the same name, importing any of its
modules makes Python rebind `yolo_transfer.compare` to the package; the package is therefore callable and calls
`yolo_transfer.compare.api.compare`, so `yolo_transfer.compare(...)` works whatever was imported before.
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from yolo_transfer.compare.api import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage


def __getattr__(name):  # lazy: importing the package must not import torch
    if name in ("compare", "CompareResult"):
        from yolo_transfer.compare import api

        return getattr(api, name)
    if name == "Trial":
        from yolo_transfer.compare.summary import Trial

        return Trial
    raise AttributeError(name)


__all__ = ["compare", "CompareResult", "Trial"]
