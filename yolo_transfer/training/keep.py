"""Keep what the checkpoint knew: train new classes into a COCO model without losing its own (`keep_classes=True`).

The trained model predicts under one names table: the checkpoint's names in their order (a source class keeps its
id), then the dataset's classes it does not have (a dataset class named like a source class is that class). `METHODS`:

- `exact`: the old classes' outputs are unchanged by construction. Every source weight and BatchNorm statistic stays
  frozen; the new classes get a path of their own that trains: copies of the layers the preset trains
  (`keep_head.Branch`, `branch_point`) and per level a new box and class branch in each head (`HeadBranches`), on
  anchors of their own (`keep_head.KeepDetect`). After training the old-class outputs are compared with the source
  model's on real images, like frozen layers are: any change fails the run.
- `distill`: the backbone may train (for far domains); the source model's own boxes on the new images (pseudo-labels
  at `PSEUDO_CONF`) and `replay` images of the source domain with their labels keep teaching the old classes.
- `plain`: the combined head with no protection (what fine-tuning does to the old classes), for contrast in `compare`.

Measured retention and new-class mAP per method: docs/evidence/keep.md (`python bench/keep_classes.py`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from torch import nn

from yolo_transfer.data.yolo_layout import label_path
from yolo_transfer.errors import UserError
# the module classes a kept checkpoint carries: importable here too, for checkpoints saved under these names
from yolo_transfer.training.keep_head import ClassBranches, HeadBranches  # noqa: F401

METHODS = ("exact", "distill", "plain")
PSEUDO_CONF = 0.5  # the source model's boxes at or above this score become labels of its classes (distill)


def norm_name(name: str) -> str:
    """A class name as names are matched across checkpoint and datasets: case, spaces, `-` and `_` ignored."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


@dataclass
class KeepPlan:
    """The names table of a keep-classes run and how the dataset's class ids map into it."""

    method: str
    source_names: list[str]  # the checkpoint's, in id order: ids 0..old_nc-1 of the combined table
    data_names: list[str]
    names: list[str]  # combined: the source's, then the dataset's new classes
    data_to_combined: dict[int, int]  # dataset class id -> combined id
    replay: str | None = None
    data_yaml: str = ""  # the derived dataset training reads (labels in combined ids)
    branch_from: int | None = None  # exact: the first source layer copied into the new classes' path (None: head only)

    @property
    def old_nc(self) -> int:
        return len(self.source_names)

    @property
    def new(self) -> list[str]:
        return self.names[self.old_nc:]

    def to_dict(self) -> dict:
        return {**asdict(self), "data_to_combined": {str(k): v for k, v in self.data_to_combined.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "KeepPlan":
        d = dict(d)
        d["data_to_combined"] = {int(k): int(v) for k, v in d.get("data_to_combined", {}).items()}
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"--keep-method {method}: unknown; choose one of {', '.join(METHODS)}")
    return method


def keep_plan(source_names: Mapping[int, str], data_names: Mapping[int, str], method: str,
              replay: str | None = None, class_map: Mapping[str, str] | None = None) -> KeepPlan:
    """The combined names table; a dataset class renamed by `class_map` (`--class-map`: dataset name -> checkpoint
    name) is the checkpoint class it names. A dataset whose classes clash (two of them the same source class, or the
    same name twice) is refused in one line."""
    check_method(method)
    alias = {norm_name(k): str(v) for k, v in (class_map or {}).items()}
    src = [str(source_names[i]) for i in sorted(source_names)]
    lookup = {}
    for i, n in enumerate(src):
        lookup.setdefault(norm_name(n), i)
    names, mapping, seen = list(src), {}, {}
    for i in sorted(data_names):
        n = str(data_names[i])
        key = norm_name(alias.get(norm_name(n), n))
        if key in seen:
            raise UserError(f"data classes '{seen[key]}' and '{n}' are the same class once case and separators are "
                            f"ignored{' (and --class-map applied)' if alias else ''}; rename one in the data YAML")
        seen[key] = n
        if key in lookup:
            mapping[i] = lookup[key]
        else:
            mapping[i] = len(names)
            names.append(n)
    if len(names) == len(src) and method == "exact":
        raise UserError("--keep-classes --keep-method exact: every dataset class is already one of the checkpoint's, "
                        "so there is no new class to add; train without --keep-classes (or use distill to adapt)")
    return KeepPlan(method, src, [str(data_names[i]) for i in sorted(data_names)], names, mapping, replay)


# --------------------------------------------------------------------------------------------- the derived dataset


def build_data(spec, plan: KeepPlan, root: str | os.PathLike, source: str | None = None, imgsz: int = 640,
               device: str | None = None) -> Path:
    """The dataset training reads: the user's images (linked, not copied) with labels rewritten in combined ids,
    plus, for `distill`, the source model's own boxes on the train images as labels of its classes and the `replay`
    set's train images with their labels. Kept under `root` by a key of everything that went into it, so a resume or
    a second run reuses it; built in a temporary folder and renamed into place only when whole."""
    from yolo_transfer.utils.io import atomic_dir, atomic_write_text

    key = hashlib.sha256(json.dumps({"data": str(spec.yaml_path), "mtime": os.path.getmtime(spec.yaml_path),
                                     "plan": plan.to_dict() | {"data_yaml": "", "branch_from": None},
                                     "source": source, "imgsz": imgsz,
                                     "pseudo": PSEUDO_CONF}, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(root) / f"keep-{plan.method}-{key}"
    if (folder / "data.yaml").is_file():
        return folder / "data.yaml"
    with atomic_dir(folder) as tmp:
        for split in ("train", "val"):
            files = spec.require_images(split) if spec.splits.get(split) else []
            mapping = plan.data_to_combined
            if plan.method == "exact" and split == "train":  # the checkpoint's classes cannot train there: their
                mapping = {i: c for i, c in mapping.items() if c >= plan.old_nc}  # boxes would only dilute the loss
            link_split(files, tmp, split, mapping)
        if plan.method == "distill":
            if source is not None:
                _pseudo_label(source, tmp / "images" / "train", tmp / "labels" / "train", plan, imgsz, device)
            if plan.replay:
                _add_replay(plan, tmp)
        import yaml

        atomic_write_text(tmp / "data.yaml", yaml.safe_dump(
            {"path": str(folder), "train": "images/train", "val": "images/val",
             "names": {i: n for i, n in enumerate(plan.names)}}, sort_keys=False))
    return folder / "data.yaml"


def link_split(files: Sequence[Path], root: Path, split: str, mapping: Mapping[int, int], prefix: str = "") -> set[int]:
    """Link `files` into `root/images/<split>` with their labels rewritten through `mapping` (classes it lacks are
    left out); returns the class ids the labels held. Names are made unique in the split (`a_1.jpg` beside `a.jpg`),
    as two images of the same name in different folders would otherwise share one label file."""
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    taken = {p.stem.lower() for p in images.iterdir()}
    seen: set[int] = set()
    for f in map(Path, files):
        stem = name = f"{prefix}{f.stem}"
        k = 0
        while name.lower() in taken:
            k += 1
            name = f"{stem}_{k}"
        taken.add(name.lower())
        os.symlink(os.path.abspath(f), images / f"{name}{f.suffix}")
        rows = []
        src = label_path(f)
        for line in (src.read_text().splitlines() if src.is_file() else []):
            parts = line.split()
            if parts:
                c = int(float(parts[0]))
                seen.add(c)
                if c in mapping:
                    rows.append(" ".join([str(mapping[c]), *parts[1:]]))
        (labels / f"{name}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
    return seen


def _pseudo_label(source: str, images: Path, labels: Path, plan: KeepPlan, imgsz: int, device: str | None) -> None:
    """Add the source model's boxes (score >= PSEUDO_CONF) on the train images as labels of its classes."""
    from ultralytics import YOLO

    model = YOLO(source)
    files = [str(p) for p in sorted(images.iterdir())]
    if not files:
        return
    # streamed in batches of 8: one batch in memory at a time; links keep their names (Ultralytics does not resolve)
    for r in model.predict(files, stream=True, batch=8, imgsz=imgsz, conf=PSEUDO_CONF, device=device, verbose=False):
        img = Path(r.path)
        if r.boxes is None or not len(r.boxes):
            continue
        rows = [f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}"
                for c, (x, y, w, h) in zip(r.boxes.cls.tolist(), r.boxes.xywhn.tolist()) if int(c) < plan.old_nc]
        if rows:
            with open(labels / f"{img.stem}.txt", "a") as f:
                f.write("\n".join(rows) + "\n")


def _add_replay(plan: KeepPlan, root: Path) -> None:
    from yolo_transfer.data.yolo_layout import check_data_yaml

    replay = check_data_yaml(plan.replay)
    lookup = {norm_name(n): i for i, n in enumerate(plan.names)}
    mapping = {i: lookup[norm_name(n)] for i, n in enumerate(replay.names) if norm_name(n) in lookup}
    if not mapping:
        raise UserError(f"--replay {plan.replay}: none of its classes is one of the checkpoint's or the dataset's; "
                        f"replay images must be labelled with the source classes (e.g. coco128.yaml for a COCO model)")
    link_split(replay.require_images("train"), root, "train", mapping, prefix="replay_")


# ------------------------------------------------------------------------------------------------ the exact method


KEPT_SOURCE = ("this checkpoint already holds a keep-classes head (another run's new classes beside its own); "
               "training it again is not supported: train from the original checkpoint on the combined dataset")


def is_kept(model) -> bool:
    """Whether `model` came out of a keep-classes exact run (its head has the new classes' path)."""
    head = model.model[-1]
    return any(isinstance(m, HeadBranches) for m in head.modules())


def held_prefixes(model) -> list[str]:
    """State-dict name prefixes of everything in `model`'s Detect layer the exact method holds frozen: all of it but
    the new branches (`<head>.<level>.new.`) and the copied layers (`branch.`), which `graft` adds."""
    h = len(model.model) - 1
    head = model.model[h]
    heads = [a for a in ("cv2", "cv3", "one2one_cv2", "one2one_cv3") if getattr(head, a, None) is not None]
    held = [f"model.{h}.{name}." for name, _ in head.named_children() if name not in (*heads, "branch")]
    for attr in heads:
        held += [f"model.{h}.{attr}.{i}.old." for i in range(head.nl)]
    return held


def branch_point(plan, anatomy) -> int | None:
    """The first layer the exact method copies for the new classes: the first layer `plan` trains (the stem, whose
    input is the image, stays shared), None when only the head trains. Presets that change what trains over the run
    or scale learning rates per layer have no single copy to make: refused in one line."""
    trained = plan.trainable_at(0)
    h = anatomy.num_layers - 1
    start = min(trained) if trained else h
    if len(plan.stages) > 1 or trained != set(range(start, h + 1)) or len(set(plan.lr_scale)) > 1:
        raise UserError(f"--keep-method exact copies the layers a preset trains for the new classes; --preset "
                        f"{plan.preset} does not train one block of layers through the head at one rate: use "
                        f"head-only, frozen-backbone (default), full or freeze:N")
    return None if start >= h else max(start, 1)


def graft(model, n_new: int, branch_from: int | None = None) -> None:
    """Give `model`'s Detect layer the new classes' own path (`training.keep_head.KeepDetect`): layers
    `branch_from`.. before the head copied (`Branch`; none when None), and per level a new box branch and a new class
    branch (copies of the old ones, the class branch with a new last layer at Ultralytics' prior bias) on the copied
    features, predicting on anchors of their own beside the checkpoint's."""
    import torch
    from ultralytics.nn.modules.head import Detect

    from yolo_transfer.training.keep_head import Branch, KeepDetect

    head = model.model[-1]
    if type(head) is not Detect:
        raise UserError(f"--keep-method exact grafts onto Ultralytics' Detect head; this model's is a "
                        f"{type(head).__name__}: use --keep-method distill")
    nl, n_old = head.nl, head.nc
    head.__class__ = KeepDetect
    head.branch, head.split = None, None
    if branch_from is not None:
        head.split = _head_channels(model)
        head.branch = Branch(model.model[branch_from:-1], branch_from, head.f[:nl])
        head.f = list(head.f[:nl]) + head.branch.ins
        model.save = sorted(set(model.save) | set(head.branch.ins))
    for attr in ("cv2", "cv3", "one2one_cv2", "one2one_cv3"):
        branches = getattr(head, attr, None) or []  # one2one_*: end-to-end heads only (YOLO26)
        for i, old in enumerate(branches):
            new = copy.deepcopy(old)  # the old branch as the start
            if attr.endswith("cv3"):  # a class head: a new last layer for the new classes only
                new[-1] = nn.Conv2d(new[-1].in_channels, n_new, 1)
                nn.init.constant_(new[-1].bias, math.log(5 / (n_old + n_new) / (640 / float(head.stride[i])) ** 2))
            branches[i] = HeadBranches(old, new)
    head.n_old = n_old
    head.stride = torch.cat([head.stride, head.stride])  # the new anchors' levels follow the checkpoint's
    head.shape = None  # Detect caches its anchors by input shape: twice as many now
    head.nc = n_old + n_new
    head.no = head.nc + head.reg_max * 4


def old_outputs(model, x, old_nc: int, decoded: bool = False) -> list:
    """What a model's own forward computes for the checkpoint's first `old_nc` classes on the checkpoint's anchors:
    each head's raw boxes and those classes' logits (a kept model's new anchors follow them and score the old classes
    at `keep_head.NEVER` by construction); with `decoded`, the boxes and probabilities as predict reads them, which
    checks the anchors too. From the whole model as it predicts, so the head's wiring is checked with them."""
    raw, dec = _old_outputs(model, x, old_nc)
    return dec if decoded else raw


def _old_outputs(model, x, old_nc: int) -> tuple[list, list]:  # `old_outputs`' raw and decoded, from one forward
    import torch

    with torch.no_grad():
        out = model.eval()(x)
    y, preds = out if isinstance(out, (tuple, list)) else (None, out)
    heads = [preds[k] for k in ("one2many", "one2one") if k in preds] or [preds]
    n = getattr(model.model[-1], "old_anchors", lambda p: None)(heads[0])
    raw = [t[..., :n] for p in heads for t in (p["boxes"], p["scores"][:, :old_nc])]
    ok = y is not None and y.ndim == 3 and y.shape[-1] == heads[0]["boxes"].shape[-1]  # not an NMS-free top-k
    return raw, [y[:, : 4 + old_nc, :n]] if ok else []


def _head_channels(model) -> list[int]:
    """The channels of each feature map the Detect layer receives (its `f` inputs), from running the layers before
    it once on a small input in eval mode."""
    import torch

    p = next(model.parameters())
    x = torch.zeros(1, int((getattr(model, "yaml", None) or {}).get("channels", 3)), 64, 64, device=p.device,
                    dtype=p.dtype)
    was, y = model.training, []
    try:
        with torch.no_grad():
            for m in model.eval().model[:-1]:
                if m.f != -1:
                    x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
                x = m(x)
                y.append(x if m.i in model.save else None)
        return [int((y[j] if j != -1 else x).shape[1]) for j in model.model[-1].f]
    finally:
        model.train(was)


@dataclass
class OutputCheck:
    """The exact method's proof: the old-class outputs of the trained model against the source model's."""

    ok: bool
    images: int
    tensors: int
    changed: list[str] = field(default_factory=list)
    max_abs_diff: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def verify_old_outputs(source: str | os.PathLike, trained: str | os.PathLike, images: Sequence[Path],
                       imgsz: int = 640, limit: int = 16) -> OutputCheck:
    """Run both models on up to `limit` of `images` (letterboxed to a square) and compare every old-class
    tensor bit for bit: boxes and the old classes' logits of every head, from each model's own forward; and the
    decoded boxes and probabilities up to float rounding (1e-5)."""
    import numpy as np
    import torch
    from ultralytics.data.augment import LetterBox

    from yolo_transfer.utils.imageread import BadImage, read_image
    from yolo_transfer.verify import load_model

    # the trained checkpoint holds the source's weights as Ultralytics saves them (FP16): compare with those
    a, b = load_model(source).half().float(), load_model(trained)
    old_nc = int(a.model[-1].nc)
    letterbox = LetterBox((imgsz, imgsz), auto=False)  # as Ultralytics' validation pads a square batch
    check = OutputCheck(True, 0, 0)
    for p in list(images)[:limit]:
        try:
            img = read_image(p)
        except BadImage:
            continue
        x = letterbox(image=img)[..., ::-1].transpose(2, 0, 1)  # BGR HWC -> RGB CHW
        t = torch.from_numpy(np.ascontiguousarray(x)).float().unsqueeze(0) / 255
        (raw_a, dec_a), (raw_b, dec_b) = _old_outputs(a, t, old_nc), _old_outputs(b, t, old_nc)
        # decoded: the same numbers through elementwise kernels over a longer tensor, equal up to float rounding
        pairs = [(u, v, True) for u, v in zip(raw_a, raw_b)] + [(u, v, False) for u, v in zip(dec_a, dec_b)]
        for k, (u, v, exact) in enumerate(pairs):
            check.tensors += 1
            if not (torch.equal(u, v) if exact else torch.allclose(u, v, rtol=1e-6, atol=1e-5)):
                diff = float((u - v).abs().max())
                check.max_abs_diff = max(check.max_abs_diff, diff)
                check.changed.append(f"{Path(p).name}: {'output' if exact else 'decoded output'} {k} "
                                     f"(max |diff| {diff:.3g})")
        check.images += 1
    check.ok = not check.changed and check.images > 0
    return check
