import math

import pytest

from yolo_transfer.anatomy import inspect_model
from yolo_transfer.errors import UserError
from yolo_transfer.presets import REGISTRY, FreezePlan, available, make_plan, place, plan_from_spec

EXAMPLES = {"freeze": "freeze:5", "layers": "layers:0-2,6"}
MODELS = ["yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml"]


@pytest.fixture(scope="module", params=MODELS)
def anatomy(request):
    return inspect_model(request.param)[0]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_preset_gives_a_valid_plan(name, anatomy):
    plan = make_plan(EXAMPLES.get(name, name), anatomy, epochs=9)
    assert plan.stages[0].epoch == 0 and plan.trainable_at(0)
    assert anatomy.head_index in plan.trainable_at(0)  # the new task's head always trains from the start
    epochs = [s.epoch for s in plan.stages]
    assert epochs == sorted(set(epochs))
    for a, b in zip(plan.stages, plan.stages[1:]):  # unfreezing only ever adds layers
        assert set(a.trainable) < set(b.trainable)
    assert len(plan.lr_scale) == anatomy.num_layers and all(s > 0 for s in plan.lr_scale)
    assert FreezePlan.from_dict(plan.to_dict()) == plan


def test_named_presets_follow_the_parts(anatomy):
    neck, head = (set(anatomy.indices(p)) for p in ("neck", "head"))
    assert make_plan("head-only", anatomy).trainable_at(0) == head
    assert make_plan("frozen-backbone", anatomy).trainable_at(0) == neck | head
    assert make_plan("full", anatomy).never_trained == set()
    assert make_plan("freeze:4", anatomy).frozen_at(0) == {0, 1, 2, 3}
    assert make_plan("layers:0-2,6", anatomy).frozen_at(0) == {0, 1, 2, 6}


def test_progressive_stages(anatomy):
    plan = make_plan("progressive:neck=2,backbone=4", anatomy, epochs=6)
    head, neck = set(anatomy.indices("head")), set(anatomy.indices("neck"))
    assert plan.trainable_at(0) == plan.trainable_at(1) == head
    assert plan.trainable_at(2) == plan.trainable_at(3) == head | neck
    assert plan.trainable_at(5) == set(range(anatomy.num_layers))
    assert plan.never_trained == set()


def test_discriminative_ratios_and_layer_decay(anatomy):
    plan = make_plan("discriminative:ratio=0.25", anatomy)
    for i in range(anatomy.num_layers):
        expected = {"backbone": 0.25, "neck": math.sqrt(0.25), "head": 1.0}[anatomy.part_of(i)]
        assert plan.lr_scale[i] == pytest.approx(expected)
    decayed = make_plan("discriminative:ratio=0.5,decay=0.5", anatomy)
    bb = anatomy.indices("backbone")
    assert decayed.lr_scale[bb[-1]] == pytest.approx(0.5)
    assert decayed.lr_scale[bb[-2]] == pytest.approx(0.25)  # one step toward the input halves it


@pytest.mark.parametrize("spec, message", [
    ("nope", "valid presets: head-only"),
    ("freeze:999", "leaves nothing to train"),
    ("layers:0-99", "does not exist"),
    ("progressive:neck=3,backbone=1", "neck epoch <= backbone"),
    ("progressive:speed=2", "unknown parameter"),
    ("discriminative:ratio=3", "ratio must be in"),
])
def test_bad_presets_are_one_line_errors(anatomy, spec, message):
    with pytest.raises(UserError, match=message) as e:
        make_plan(spec, anatomy)
    assert "\n" not in str(e.value)


def test_user_presets_from_yaml(tmp_path, anatomy):
    f = tmp_path / "presets.yaml"
    f.write_text(
        "slow-thaw:\n  description: mine\n  train: [head]\n"
        "  stages: [{epoch: '50%', unfreeze: [neck]}, {epoch: 8, unfreeze: [0, 1]}]\n"
        "  lr_scale: {neck: 0.3}\n"
    )
    assert available(f)["slow-thaw"] == "mine"
    plan = make_plan("slow-thaw", anatomy, epochs=10, presets_file=f)
    assert [s.epoch for s in plan.stages] == [0, 5, 8]
    assert {0, 1} <= plan.trainable_at(8) and 2 not in plan.trainable_at(9)
    assert plan.lr_scale[anatomy.indices("neck")[0]] == pytest.approx(0.3)
    f.write_text("full:\n  train: [all]\n")
    with pytest.raises(UserError, match="shadow built-in"):
        make_plan("full", anatomy, presets_file=f)


def test_shares_of_the_run_move_with_its_length(anatomy):
    """progressive's default thirds and YAML '60%' stages are shares of the run: a time-bounded run refits its length
    as it goes, so the stage at an epoch is placed in the length the run has then; fixed epochs stay put."""
    plan = make_plan("progressive", anatomy, epochs=3)
    assert plan.relative and [s.epoch for s in plan.stages] == [0, 1, 2]
    assert [plan.stage_at(e, 30) for e in (9, 10, 19, 20)] == [0, 1, 1, 2]
    assert [plan.stage_at(e, 2) for e in (0, 1)] == [0, 2]  # a 2-epoch run: neck and backbone thaw together
    assert FreezePlan.from_dict(plan.to_dict()).stage_at(10, 30) == 1  # the shares survive the record
    fixed = make_plan("progressive:neck=1,backbone=2", anatomy, epochs=3)
    assert not fixed.relative and fixed.stage_at(1, 30) == 1 and fixed.stage_at(2, 30) == 2
    assert place([(0, None), (0, 0.5), (8, None)], 10) == [0, 5, 8]
    with pytest.raises(UserError, match="above 0% and at most 100%"):
        plan_from_spec("p", {"train": ["head"], "stages": [{"epoch": "150%", "unfreeze": ["neck"]}]}, anatomy, 10)
    # YAML stages at one share (or at the epoch a share lands on) are one stage, as fixed epochs always were
    same = plan_from_spec("p", {"train": ["head"], "stages": [{"epoch": "50%", "unfreeze": ["neck"]},
                                                              {"epoch": "50%", "unfreeze": ["backbone"]}]}, anatomy, 10)
    assert [s.epoch for s in same.stages] == [0, 5] and same.trainable_at(5) == set(range(anatomy.num_layers))
    mixed = plan_from_spec("p", {"train": ["head"], "stages": [{"epoch": 5, "unfreeze": ["neck"]},
                                                               {"epoch": "50%", "unfreeze": ["backbone"]}]}, anatomy, 10)
    assert mixed.stage_at(4) == 0 and mixed.trainable_at(5) == set(range(anatomy.num_layers))
