import pytest

from yolo_transfer.anatomy import PARTS, Anatomy, inspect_model, load_detection_model
from yolo_transfer.errors import UserError

YAMLS = [f"{fam}{s}.yaml" for fam in ("yolov8", "yolo11", "yolo26") for s in ("n", "s", "m")]


@pytest.mark.parametrize("spec", YAMLS)
def test_parts_come_from_the_models_own_yaml(spec):
    anatomy, yolo = inspect_model(spec)
    model = yolo.model
    n_backbone = len(model.yaml["backbone"])
    assert anatomy.indices("backbone") == list(range(n_backbone))
    assert anatomy.indices("head") == [len(model.model) - 1]
    assert type(model.model[-1]).__name__ in {"Detect", "v10Detect"} or "Detect" in type(model.model[-1]).__name__
    assert anatomy.indices("neck") == list(range(n_backbone, len(model.model) - 1))
    # every parameter belongs to exactly one part
    assert sum(anatomy.params_per_part().values()) == sum(p.numel() for p in model.parameters())


def test_real_checkpoint_anatomy(fall_weights):
    anatomy, yolo = inspect_model(fall_weights)
    assert anatomy.num_layers == 23 and anatomy.indices("backbone") == list(range(10))
    assert yolo.model.names == {0: "Normal", 1: "Fall"}
    assert set(anatomy.to_dict()["parts"]) == set(PARTS)


@pytest.mark.parametrize("spec", ["yolo26n-seg.yaml", "yolo26n-pose.yaml", "yolo26n-obb.yaml", "yolo11n-seg.yaml"])
def test_segment_pose_obb_models_are_refused_in_one_line(spec):
    """Their heads subclass Detect; before, `train --weights yolo26n-seg.yaml` ended in an AttributeError."""
    with pytest.raises(UserError, match="yolo-transfer trains detection models") as e:
        load_detection_model(spec)
    assert "\n" not in str(e.value) and spec in str(e.value)


def test_segment_checkpoint_is_refused_before_training(tmp_path, synth_yaml):
    from click.testing import CliRunner
    from ultralytics import YOLO

    from yolo_transfer.cli import main

    seg = tmp_path / "seg.pt"
    YOLO("yolo26n-seg.yaml").save(seg)
    res = CliRunner().invoke(main, ["train", "--data", str(synth_yaml), "--model", str(seg), "--project",
                                    str(tmp_path / "runs"), "--epochs", "1"])
    assert res.exit_code == 2 and "segment model" in res.output and res.output.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_classification_checkpoint_is_rejected(tmp_path):
    from ultralytics import YOLO

    cls = YOLO("yolo11n-cls.yaml")
    path = tmp_path / "cls.pt"
    cls.save(path)
    with pytest.raises(UserError, match="classify model"):
        load_detection_model(path)


def test_garbage_checkpoint_is_one_line_error(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="cannot load model") as e:
        load_detection_model(bad)
    assert "\n" not in str(e.value)


def test_unknown_part_is_an_error():
    anatomy, _ = inspect_model("yolo11n.yaml")
    with pytest.raises(UserError, match="unknown model part"):
        anatomy.indices("torso")
    assert isinstance(anatomy, Anatomy)
