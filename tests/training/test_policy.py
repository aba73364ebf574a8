import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from yolo_transfer.anatomy import inspect_model
from yolo_transfer.errors import UserError
from yolo_transfer.presets import make_plan
from yolo_transfer.training.policy import BN_POLICIES, FreezePolicy, check_bn_policy


@pytest.fixture(scope="module")
def model_and_anatomy():
    anatomy, yolo = inspect_model("yolo11n.yaml")
    return yolo.model, anatomy


def _bn_modes(model):
    return {i: {m.training for m in layer.modules() if isinstance(m, _BatchNorm)} for i, layer in enumerate(model.model)}


@pytest.mark.parametrize("policy", sorted(BN_POLICIES))
@pytest.mark.parametrize("sync", [False, True], ids=["BatchNorm2d", "SyncBatchNorm"])
def test_bn_policy_on_every_bn_kind(model_and_anatomy, policy, sync):
    model, anatomy = model_and_anatomy
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if sync else model
    assert any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == sync
    plan = make_plan("progressive:neck=1,backbone=2", anatomy, epochs=3)
    pol = FreezePolicy(plan, policy)
    for epoch in range(3):
        model.train()
        pol.set_bn_modes(model, plan.stage_at(epoch))
        trainable = plan.trainable_at(epoch)
        for i, modes in _bn_modes(model).items():
            if not modes:
                continue
            expected = {"train": True, "freeze": False, "frozen": i in trainable}[policy]
            assert modes == {expected}, (policy, epoch, i)


def test_apply_follows_stages_and_keeps_dfl_frozen(model_and_anatomy):
    model, anatomy = model_and_anatomy
    plan = make_plan("progressive:neck=1,backbone=2", anatomy, epochs=3)
    pol = FreezePolicy(plan)
    for epoch in range(3):
        pol.apply(model, plan.stage_at(epoch))
        for i, layer in enumerate(model.model):
            for name, p in layer.named_parameters():
                expected = i in plan.trainable_at(epoch) and "dfl" not in name
                assert p.requires_grad == expected, (epoch, i, name)


def test_ddp_mode_holds_later_stages_by_dropping_grads(model_and_anatomy):
    model, anatomy = model_and_anatomy
    plan = make_plan("progressive:neck=1,backbone=2", anatomy, epochs=3)
    pol = FreezePolicy(plan, ddp=True)
    pol.apply(model, 0)
    backbone_param = next(model.model[0].parameters())
    assert backbone_param.requires_grad  # DDP must see it as trainable from the start
    backbone_param.grad = torch.ones_like(backbone_param)
    pol.drop_frozen_grads()
    assert backbone_param.grad is None
    assert pol.initial_freeze_list() == []


def test_unknown_bn_policy():
    with pytest.raises(UserError, match="--bn-policy"):
        check_bn_policy("sometimes")
