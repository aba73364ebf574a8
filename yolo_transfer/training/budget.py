"""How many epochs of each preset fit in a wall-clock budget here: the one estimator behind `recommend`, `compare`
and `--preset auto`.

An epoch in Ultralytics' time mode is what this times, on the user's own data at the training size, batch and
threads: loading and augmenting every train image (in the training process on a CPU), one training step per batch
(forward, loss, backward down to the lowest trainable layer, optimizer step) and validating every val image. A
preset's step is timed with its own trainable layers (a staged preset: each stage, weighted by its share of the
run); the steps of presets that train the same layers are timed once. Its error against the epochs Ultralytics then
really ran: docs/evidence/budget.md (`python bench/budget_error.py`).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from yolo_transfer.errors import UserError

TIMED_BATCHES = 2  # real batches of the train set, at the run's batch size (per image, a step at batch 8 read 20 %
# cheaper than at 16 at 640 px: docs/evidence/budget.md), each stepped once per preset; the median step counts
VAL_IMAGES = 16  # val images timed through Ultralytics' val loader, the eval forward pass and its NMS
# Per-epoch work beside the checkpoint saves (timed) that the parts leave out (metrics, results.csv, the loader's
# restart), seconds; measured: docs/evidence/budget.md
EPOCH_OVERHEAD_S = 0.1


@dataclass
class BudgetEstimate:
    """Estimated epochs per preset in `budget_minutes`, and the timings they come from (seconds per image)."""

    budget_minutes: float
    imgsz: int
    batch: int
    device: str
    threads: int | None  # torch threads of a CPU run (those training will use); None on a GPU
    train_images: int
    val_images: int
    load_seconds: float  # per train image: decode + augmentation (mosaic, affine, ...)
    save_seconds: float  # per epoch: saving last.pt and best.pt
    step_seconds: dict[str, float]  # per train image, per preset: forward, loss, backward, optimizer
    val_seconds: float  # per val image: eval forward + NMS
    epoch_seconds: dict[str, float] = field(default_factory=dict)
    epochs: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def cheapest(self) -> tuple[str, float]:
        """(preset, epochs) of the preset that fits the most epochs."""
        return max(self.epochs.items(), key=lambda kv: kv[1])

    @property
    def dearest(self) -> tuple[str, float]:
        """(preset, epochs) of the preset that fits the fewest epochs."""
        return min(self.epochs.items(), key=lambda kv: kv[1])


def epochs_for(budget_s: float, epoch_s: float) -> float:
    """Epochs Ultralytics' time mode runs in `budget_s` at `epoch_s` per epoch: it stops after the optimizer step
    that passes the budget and still validates that epoch, so a part-epoch counts as one."""
    return round(budget_s / max(epoch_s, 1e-9), 1)


def estimate_budget(model: str | os.PathLike, data: str | os.PathLike, presets: Sequence[str], budget_minutes: float,
                    *, imgsz: int = 640, batch: int = 16, device: str | None = None,
                    presets_file: str | os.PathLike | None = None,
                    overrides: Mapping[str, Any] | None = None, refuse: bool = True) -> BudgetEstimate:
    """Time an epoch of each of `presets` on `data` here and say how many fit in `budget_minutes`.

    `overrides` are the run's Ultralytics arguments (`cache`, `mosaic`, `workers` ... change the loading time).
    With `refuse`, a budget in which not even one epoch of the cheapest preset fits is refused in one line.
    """
    import torch

    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.utils.console import ultralytics_logs_off
    from yolo_transfer.utils.env import cpu_train_threads, torch_threads

    if not budget_minutes > 0:
        raise UserError(f"--budget-minutes must be > 0, got {budget_minutes}")
    spec = check_data_yaml(data)
    n_train, n_val = len(spec.require_images("train")), len(spec.require_images("val"))
    yolo = load_detection_model(model)
    anatomy = Anatomy.of(yolo.model)
    plans = {p: make_plan(p, anatomy, epochs=100, presets_file=presets_file) for p in presets}
    dev = _device(device)
    threads = cpu_train_threads() if dev.type == "cpu" else None
    with torch_threads(threads), ultralytics_logs_off(True):
        net, batches, load_s = _model_and_batches(yolo, spec, imgsz, batch, dev, overrides or {})
        _time_steps(net, batches[:1], [frozenset(range(len(net.model)))], dev)  # warm-up: the loss, allocations
        stages = {p: [(frozenset(plan.trainable_in(st)), w) for st, w in _stage_weights(plan).items()]
                  for p, plan in plans.items()}
        steps = _time_steps(net, batches, list(dict.fromkeys(k for ks in stages.values() for k, _ in ks)), dev)
        step_seconds = {p: sum(w * steps[k] for k, w in ks) for p, ks in stages.items()}
        val_s = _time_val(net, batches, dev)
        save_s = _time_save(net)
    budget_s = budget_minutes * 60
    est = BudgetEstimate(budget_minutes, imgsz, batch, str(dev), threads, n_train, n_val, round(load_s, 5),
                         round(save_s, 3), {p: round(s, 5) for p, s in step_seconds.items()}, round(val_s, 5))
    for p, s in step_seconds.items():
        est.epoch_seconds[p] = round(n_train * (load_s + s) + n_val * val_s + save_s + EPOCH_OVERHEAD_S, 2)
        est.epochs[p] = epochs_for(budget_s, est.epoch_seconds[p])
    if refuse and est.cheapest[1] < 1:
        p, _ = est.cheapest
        raise UserError(f"--budget-minutes {budget_minutes:g} is too small: one epoch of {p} over {n_train} train + "
                        f"{n_val} val images takes ~{est.epoch_seconds[p] / 60:.2f} min here; raise the budget or "
                        f"lower --imgsz")
    del net
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return est


def _device(device: str | None):
    import torch

    d = "" if device is None else str(device).strip().lower()
    if d in ("", "cpu") or not torch.cuda.is_available():
        return torch.device("cpu")
    first = d.split(",")[0].replace("cuda:", "")
    return torch.device(f"cuda:{int(first)}" if first.isdigit() else "cuda:0")


def _stage_weights(plan) -> dict[int, float]:
    """Each stage's share of the run: a share-placed stage (progressive's thirds) by its share, an epoch-placed one
    by its epochs out of the plan's length."""
    starts = [min(max(s.fraction if s.fraction is not None else s.epoch / 100, 0.0), 1.0) for s in plan.stages]
    starts.append(1.0)
    return {i: starts[i + 1] - starts[i] for i in range(len(plan.stages)) if starts[i + 1] > starts[i]} or {0: 1.0}


def _model_and_batches(yolo, spec, imgsz: int, batch: int, dev, overrides: Mapping[str, Any]):
    """A model like the one training builds (the dataset's classes, the checkpoint's weights) and a few real,
    augmented train batches from Ultralytics' own loader; returns (model, batches, load seconds per image)."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.nn.tasks import DetectionModel

    d = check_det_dataset(str(spec.yaml_path), autodownload=False)
    keep = {k: v for k, v in overrides.items() if k not in ("time", "epochs", "data", "model", "device")}
    cfg = get_cfg(overrides={**keep, "imgsz": imgsz, "batch": batch, "data": str(spec.yaml_path)})
    ds = build_yolo_dataset(cfg, d["train"], batch, d, mode="train", stride=32)
    loader = build_dataloader(ds, batch, 0, shuffle=True)  # no workers: Ultralytics trains on a CPU with none
    t0 = time.perf_counter()
    batches = list(itertools.islice(loader, TIMED_BATCHES))
    images = sum(len(b["img"]) for b in batches)
    load_s = (time.perf_counter() - t0) / max(images, 1)
    net = DetectionModel(yolo.model.yaml, nc=len(d["names"]), verbose=False)
    net.load(yolo.model, verbose=False)
    net.args = cfg
    val_cfg = get_cfg(overrides={**keep, "imgsz": imgsz, "batch": batch, "data": str(spec.yaml_path), "rect": True})
    val_ds = build_yolo_dataset(val_cfg, d.get("val") or d["train"], batch * 2, d, mode="val", stride=32)
    net.val_loader = build_dataloader(val_ds, min(batch * 2, VAL_IMAGES), 0, shuffle=False)
    return net.to(dev).float(), batches, load_s


def _time_steps(net, batches, keys: list[frozenset], dev) -> dict[frozenset, float]:
    """Seconds per image of a training step with only each key's layers trainable (frozen BatchNorm in eval, as
    training runs them): the median over the batches. Interleaved: every batch is timed under every key in turn, so
    a burst of other load on the machine falls on all of them alike and cannot reorder the presets' costs."""
    times: dict[frozenset, list[float]] = {k: [] for k in keys}
    for b in batches:
        b = {**b, "img": b["img"].to(dev, non_blocking=True).float() / 255}
        for k in keys:
            times[k].append(_step(net, b, k, dev) / len(b["img"]))
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def _step(net, batch: dict, trainable: frozenset, dev) -> float:
    """The seconds of one training step on `batch` with only the `trainable` layers trainable."""
    import torch

    net.train()
    for i, layer in enumerate(net.model):
        on = i in trainable
        for p in layer.parameters():
            p.requires_grad = on
        if not on:
            for m in layer.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-6, momentum=0.9) if params else None
    t0 = time.perf_counter()
    loss, _ = net.loss(batch)
    if params:
        loss.sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _time_val(net, batches, dev) -> float:
    """Seconds per image of validation as Ultralytics runs it inside training: its val loader (decode, rectangular
    letterbox), the eval forward pass, the val loss (box assignment included) and its NMS (conf 0.001, one box per
    class above it: multi-label)."""
    import torch
    from ultralytics.utils.nms import non_max_suppression

    net.eval()
    with torch.no_grad():
        net(batches[0]["img"][:1].to(dev).float() / 255)  # warm-up
        t0 = time.perf_counter()
        n = 0
        for b in net.val_loader:
            x = b["img"].to(dev).float() / 255
            out = net(x)
            y, preds = (out[0], out[1]) if isinstance(out, (list, tuple)) else (out, None)
            if preds is not None:
                net.loss({**b, "img": x}, preds)
            non_max_suppression(y, conf_thres=0.001, iou_thres=0.7, multi_label=True, max_det=300)
            n += len(x)
            if n >= VAL_IMAGES:
                break
        if dev.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - t0) / max(n, 1)


def _time_save(net) -> float:
    """Seconds to save an epoch's checkpoints: Ultralytics writes last.pt (and best.pt when it improves) each epoch,
    the model in FP16 with its EMA and optimizer; timed as two FP16 copies of the model into memory, doubled for the
    optimizer's and EMA's state, which are as large again."""
    import io

    import torch

    t0 = time.perf_counter()
    for _ in range(2):
        torch.save({k: v.half() for k, v in net.state_dict().items() if v.is_floating_point()}, io.BytesIO())
    return 2 * (time.perf_counter() - t0)


def first_guess(est: BudgetEstimate, preset: str) -> int:
    """Ultralytics' `epochs` for a time-bounded run (only its first guess; the budget refits it), at least 2: the
    first epoch's "final epoch" test still uses it, so 1 would end the run after one epoch."""
    return max(2, math.floor(est.epochs.get(preset, 2)))
