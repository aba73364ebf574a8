"""Presets and verified freezing on the official YOLO26n COCO checkpoint (the brief's `YOLO("yolo26n.pt")`).

YOLO26's backbone is layers 0-10 (so Ultralytics' `freeze=10` leaves layer 10 training), and its Detect head has two
class branches (`cv3`, the one-to-many head's, and `one2one_cv3`, the NMS-free head's) and two box branches.
"""

from __future__ import annotations

import shutil

import pytest
import torch
import yaml

from yolo_transfer.anatomy import inspect_model
from yolo_transfer.presets import make_plan
from yolo_transfer.training.api import train_preset

FAST = {"imgsz": 96, "batch": 8, "device": "cpu", "workers": 0, "plots": False, "seed": 0, "deterministic": True,
        "amp": False, "val": False}


def _sd(path):
    from ultralytics.utils.patches import torch_load

    ckpt = torch_load(path, map_location="cpu")
    return (ckpt.get("ema") or ckpt["model"]).float().state_dict()


def test_yolo26_backbone_is_layers_0_to_10_not_ultralytics_freeze_10(coco_weights):
    anatomy, yolo = inspect_model(coco_weights)
    assert anatomy.indices("backbone") == list(range(11)) and anatomy.head_index == 23
    assert sorted(make_plan("frozen-backbone", anatomy).frozen_at(0)) == list(range(11))
    assert 10 not in make_plan("freeze:10", anatomy).frozen_at(0)  # Ultralytics' freeze=10 trains layer 10
    assert len(yolo.model.names) == 80 and yolo.model.names[0] == "person"


@pytest.fixture(scope="module")
def coco_named_synth(synth_yaml, tmp_path_factory):
    """The generated defect set with its three classes renamed to COCO classes, in another order than COCO's."""
    root = tmp_path_factory.mktemp("named") / "synth"
    shutil.copytree(synth_yaml.parent, root, ignore=shutil.ignore_patterns("*.cache"))
    spec = yaml.safe_load((root / synth_yaml.name).read_text())
    spec.update(path=str(root), names={0: "dog", 1: "person", 2: "car"})
    out = root / "data.yaml"
    out.write_text(yaml.safe_dump(spec))
    return out


def test_head_only_trains_both_class_branches_and_carries_coco_rows_by_name(coco_weights, coco_named_synth,
                                                                             tmp_path):
    r = train_preset(coco_weights, coco_named_synth, preset="head-only", epochs=1, project=tmp_path, **FAST)
    assert r.ok, r.error
    rows = {m["target"]: (m["source_id"], m["how"]) for m in r.transfer["class_mapping"]}
    assert rows == {"dog": (16, "same name"), "person": (0, "same name"), "car": (2, "same name")}
    status = r.transfer["head"]["tensors"]
    # the last conv of both class branches was built for 3 classes from the COCO rows of the same names
    for branch in ("cv3", "one2one_cv3"):
        last = sorted(k for k in status if k.startswith(f"{branch}.0.") and k.endswith("bias"))[-1]
        assert status[last] == "remapped", (last, status[last])
    src, out = _sd(coco_weights), _sd(r.last)
    changed = {k.split(".")[2] for k, v in out.items() if k.startswith("model.23.") and k in src
               and src[k].shape == v.shape and not torch.equal(src[k], v)}
    assert {"cv3", "one2one_cv3", "cv2", "one2one_cv2"} <= changed  # both heads' branches trained
    assert not [k for k, v in out.items() if k.split(".")[1] != "23" and k in src and v.dtype.is_floating_point
                and not torch.equal(src[k], v)]  # everything before the head is bit-identical to COCO's
    assert r.transfer["verification"]["ok"] and r.transfer["verification"]["checked_tensors"] > 0


def test_frozen_backbone_keeps_layers_0_to_10_bit_identical_and_the_neck_trains(coco_weights, coco8_yaml,
                                                                                   tmp_path):
    r = train_preset(coco_weights, coco8_yaml, preset="frozen-backbone", epochs=1, project=tmp_path, **FAST)
    assert r.ok, r.error
    v = r.transfer["verification"]
    assert v["ok"] and v["changed"] == [] and v["trainable_changed"] > 0
    assert r.transfer["params"]["backbone"]["frozen_throughout"] == r.transfer["params"]["backbone"]["total"] > 0
    src, out = _sd(coco_weights), _sd(r.last)
    assert all(torch.equal(src[k], out[k]) for k in out if k.split(".")[1] == "10")  # layer 10 is backbone: frozen
    assert any(not torch.equal(src[k], out[k]) for k in out if k.split(".")[1] == "13" and k.endswith("weight")
               and src[k].shape == out[k].shape)
    # coco8 carries COCO's own 80 names: every class row comes from the checkpoint, none re-initialised
    assert all(m["how"] == "same name" for m in r.transfer["class_mapping"])
    assert r.transfer["head"]["counts"]["reinitialised"] == 0
