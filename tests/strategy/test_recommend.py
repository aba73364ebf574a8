"""`recommend`: bad input fails in one line before any work; real and generated data get the preset their facts call for."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from yolo_transfer.cli import main as cli
from yolo_transfer.strategy.rules import RULES, TINY


def _run(*args):
    return CliRunner().invoke(cli, ["recommend", *map(str, args)])


def test_bad_input_is_one_line_exit_2(tmp_path, synth_yaml, tiny_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--data", tmp_path / "nope.yaml", "--weights", tiny_model], "data YAML not found"),
        (["--data", synth_yaml, "--weights", tmp_path / "nope.pt"], "weights file not found"),
        (["--data", synth_yaml, "--weights", tiny_model, "--reference", empty], "no images in"),
        (["--data", synth_yaml, "--weights", tiny_model, "--reference", tmp_path / "missing"], "not found"),
        (["--data", synth_yaml, "--weights", tiny_model, "--images", 0], "--images"),
        (["--data", synth_yaml, "--weights", tiny_model, "--budget-minutes", -1], "--budget-minutes"),
    ]
    # a copy of the set with its train labels gone: nothing to learn from, refused before the model runs
    import shutil

    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(synth_yaml.parent, unlabelled)
    for txt in (unlabelled / "labels" / "train").glob("*.txt"):
        txt.unlink()
    yaml_copy = unlabelled / synth_yaml.name
    yaml_copy.write_text(synth_yaml.read_text().replace(str(synth_yaml.parent), str(unlabelled)))
    cases.append((["--data", yaml_copy, "--weights", tiny_model], "no train image has a labelled box"))
    for args, msg in cases:
        r = _run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output and r.output.startswith("Error:") and r.output.count("\n") == 1, r.output


@pytest.mark.wallclock
def test_json_on_generated_data(synth_yaml, tiny_model):
    r = _run("--data", synth_yaml, "--weights", tiny_model, "--images", 8, "--imgsz", 64, "--device", "cpu",
             "--budget-minutes", 1000, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) == {"preset", "reasons", "facts"}
    f = out["facts"]
    assert f["train_images"] == 16 and f["classes"] == 3 and f["imgsz"] == 64
    assert f["domain"]["images"] == 8 and f["domain_distance"] > 0
    assert f["epochs_in_budget"]["frozen-backbone"] > f["epochs_in_budget"]["full"] > 0
    # the budget's epochs come from training steps timed at the training size (64 px) by the one estimator compare
    # and auto use too, not from the domain pass at 320
    b = f["budget"]
    assert f["domain"]["imgsz"] == 320 and b["imgsz"] == 64 and b["train_images"] == 16
    assert f["epochs_in_budget"] == b["epochs"] and set(b["epochs"]) >= {"frozen-backbone", "full"}
    # 16 images over 3 classes, far from anything the (random) model's BN stats saw: the far-domain rule trains the
    # backbone unless the rarest class is tiny, and the budget fits plenty of epochs
    assert f["domain_distance"] > 0.2
    rule = "tiny-data" if f["min_images_per_class"] < TINY else "far-domain"
    assert out["reasons"][0].startswith(f"[{rule}]")
    assert out["preset"] == next(r.preset for r in RULES if r.name == rule)


def test_coco_images_on_a_coco_checkpoint(coco128_dir, coco_weights):
    """coco128 (COCO itself, several classes in 1-2 images) on the official COCO checkpoint: near, and tiny -> frozen
    backbone. Trained at 192 px, the domain is still measured at 320, the size the thresholds are in: measured at
    192, COCO images read 0.053, above NEAR, so `--imgsz` alone moved a set across the threshold."""
    import yolo_transfer
    from yolo_transfer.strategy.rules import DOMAIN_IMGSZ, NEAR

    rec = yolo_transfer.recommend(coco_weights, coco128_dir / "coco128.yaml", images=24, imgsz=192, device="cpu")
    assert rec.rule == "tiny-data" and rec.preset == "frozen-backbone", rec.reasons
    assert rec.facts["imgsz"] == 192 and rec.facts["domain"]["imgsz"] == DOMAIN_IMGSZ == 320
    assert rec.facts["domain_distance"] < NEAR
    assert rec.facts["checkpoint_classes"] == 80 and len(rec.facts["class_overlap"]) == 80  # COCO's own classes
    assert rec.facts["train_images"] == 128 and rec.facts["classes_without_images"]  # coco128 lacks some classes


def test_an_unmeasured_distance_is_null_in_json_and_said_in_words():
    """A checkpoint with no BatchNorm statistics to compare leaves the distance NaN, at the top and inside `domain`:
    `--json` must stay valid JSON (null, not NaN) and the text must say "not measured" instead of crashing."""
    from yolo_transfer.strategy.facts import Facts
    from yolo_transfer.strategy.recommend import Recommendation, render_text
    from yolo_transfer.strategy.rules import decide

    f = Facts(train_images=300, min_images_per_class=200, classes=2,
              domain={"imgsz": 320, "total": float("nan"), "per_stage": {"P3": float("nan")}})
    rule, reason = decide(f)
    d = f.to_dict()
    json.loads(json.dumps(d, allow_nan=False))  # raises on NaN at any depth
    assert d["domain_distance"] is None and d["domain"]["total"] is None
    assert "domain      not measured" in render_text(Recommendation(rule.preset, [reason], d, rule.name))
