"""`FreezePolicy`: what trains, and which BatchNorm layers update their statistics, at each epoch.

Hook contract (in the spirit of Lightning's `BackboneFinetuning`): the trainer calls `apply(model, stage)` at every
epoch start (before the first batch) with the plan's stage for that epoch (`TransferTrainer.stage_for`), and
`set_bn_modes(model, stage)` whenever Ultralytics puts the model back in train mode. Both are idempotent, so calling
them on resume puts the model in exactly the plan's state for that stage.

Two ways to hold a layer still:
- single process: `requires_grad=False` (no gradient is computed for it: the compute saving that freezing promises);
- DDP (world size > 1): DistributedDataParallel only syncs parameters that required grad when it was built, so a
  layer that unfreezes later must keep `requires_grad=True`; its gradients are dropped before each optimizer step
  instead (`drop_frozen_grads`), which also keeps SGD weight decay and momentum off it.
Layers the plan never trains are always `requires_grad=False`, and so are `held` parameters inside trained layers
(keep-classes' exact method: the checkpoint's own head branches, beside the new ones that train), whose BatchNorm
layers stay in eval mode too.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from yolo_transfer.errors import UserError
from yolo_transfer.presets import FreezePlan

BN_POLICIES = {
    "frozen": "BatchNorm layers in frozen layers stay in eval mode (statistics fixed); trained layers update theirs",
    "train": "every BatchNorm layer updates its statistics, frozen layers included (their weights still do not move)",
    "freeze": "every BatchNorm layer stays in eval mode; no statistics move anywhere",
}
ALWAYS_FROZEN = (".dfl",)  # Ultralytics' fixed distribution-focal-loss projection, never trained


def check_bn_policy(policy: str) -> str:
    if policy not in BN_POLICIES:
        raise UserError(f"unknown --bn-policy '{policy}'; use one of {', '.join(BN_POLICIES)}")
    return policy


def detection_model(model: nn.Module) -> nn.Module:
    """The DetectionModel being trained, inside DDP's wrapper and Ultralytics' `DistillationModel` (`distill_model=`:
    the teacher is never trained, the student is)."""
    inner = getattr(model, "module", model)  # DDP wraps the DetectionModel
    return getattr(inner, "student_model", inner)


class FreezePolicy:
    def __init__(self, plan: FreezePlan, bn_policy: str = "frozen", ddp: bool = False, held: tuple[str, ...] = ()):
        self.plan = plan
        self.bn_policy = check_bn_policy(bn_policy)
        self.ddp = ddp
        self.held = tuple(held)  # state-dict name prefixes ("model.23.cv2.") that never train, in any layer
        self._frozen_params: list[nn.Parameter] = []

    def initial_freeze_list(self) -> list[int]:
        """What to pass as Ultralytics' `freeze=` so its own setup agrees with the plan at epoch 0."""
        held = self.plan.never_trained if self.ddp else self.plan.frozen_at(0)
        return sorted(held)

    def apply(self, model: nn.Module, stage: int) -> set[int]:
        trainable = self.plan.trainable_in(stage)
        never = self.plan.never_trained
        self._frozen_params = []
        for i, layer in enumerate(detection_model(model).model):
            for name, p in layer.named_parameters():
                if not p.dtype.is_floating_point or any(f in f".{name}" for f in ALWAYS_FROZEN):
                    continue
                if self.held and f"model.{i}.{name}".startswith(self.held):
                    p.requires_grad_(False)
                elif i in trainable:
                    p.requires_grad_(True)
                elif self.ddp and i not in never:
                    p.requires_grad_(True)
                    self._frozen_params.append(p)
                else:
                    p.requires_grad_(False)
        return trainable

    def drop_frozen_grads(self) -> None:
        for p in self._frozen_params:
            p.grad = None

    def set_bn_modes(self, model: nn.Module, stage: int) -> None:
        trainable = self.plan.trainable_in(stage)
        for i, layer in enumerate(detection_model(model).model):
            train_stats = self.bn_policy == "train" or (self.bn_policy == "frozen" and i in trainable)
            for name, m in layer.named_modules():
                if isinstance(m, _BatchNorm):  # BatchNorm1d/2d/3d and SyncBatchNorm alike
                    held = bool(self.held) and f"model.{i}.{name}.".startswith(self.held)
                    m.train(train_stats and not held and model.training)
