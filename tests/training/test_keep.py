"""Keep-classes: new classes trained into the official COCO checkpoint without losing its own, and retention measured.

The new classes come from the generated defect set (scratch, spot, crack); retention is measured on coco8, which is
labelled with COCO's classes. Small sizes and one or two epochs: these tests check the mechanism and the proofs; the
measured quality per method is in docs/evidence/keep.md (`python bench/keep_classes.py`).
"""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from yolo_transfer.cli import main
from yolo_transfer.errors import UserError
from yolo_transfer.training.api import train_preset
from yolo_transfer.training.keep import HeadBranches, branch_point, graft, keep_plan, old_outputs
from yolo_transfer.training.keep_head import KeepDetect

FAST = {"imgsz": 96, "batch": 8, "device": "cpu", "workers": 0, "plots": False, "seed": 0, "amp": False}
COCO = {0: "person", 1: "bicycle", 2: "car"}


def test_one_names_table_a_source_class_keeps_its_id():
    p = keep_plan(COCO, {0: "scratch", 1: "Person", 2: "crack"}, "exact")
    assert p.names == ["person", "bicycle", "car", "scratch", "crack"] and p.new == ["scratch", "crack"]
    assert p.data_to_combined == {0: 3, 1: 0, 2: 4}  # 'Person' is COCO's person


def test_a_class_map_makes_a_dataset_class_the_checkpoint_class_it_names():
    p = keep_plan(COCO, {0: "pedestrian", 1: "scratch"}, "exact", class_map={"Pedestrian": "person"})
    assert p.names == ["person", "bicycle", "car", "scratch"] and p.data_to_combined == {0: 0, 1: 3}
    with pytest.raises(UserError, match="--class-map applied"):
        keep_plan(COCO, {0: "pedestrian", 1: "person"}, "exact", class_map={"pedestrian": "person"})


@pytest.mark.parametrize("names, method, msg", [
    ({0: "Person", 1: "person"}, "exact", "are the same class"),  # a clash inside the dataset
    ({0: "person", 1: "car"}, "exact", "no new class to add"),
    ({0: "scratch"}, "magic", "--keep-method magic: unknown"),
])
def test_bad_keep_input_is_one_line(names, method, msg):
    with pytest.raises(UserError, match=msg) as e:
        keep_plan(COCO, names, method)
    assert "\n" not in str(e.value)


TRAINABLE: dict[str, bool] = {}


@pytest.fixture(scope="module")
def exact_run(coco_weights, synth_yaml, coco8_yaml, tmp_path_factory):
    def record_trainable(trainer):  # what the optimizer may move, as the first epoch starts
        TRAINABLE.update({k: p.requires_grad for k, p in trainer.model.named_parameters()})

    return train_preset(coco_weights, synth_yaml, preset="frozen-backbone", epochs=2,
                        project=tmp_path_factory.mktemp("keep-exact"), keep_classes=True, keep_method="exact",
                        retention_data=coco8_yaml, callbacks={"on_train_epoch_start": record_trainable}, **FAST)


def test_exact_keeps_every_old_output_bit_identical_and_learns_the_new_classes(exact_run, coco_weights):
    r = exact_run
    assert r.ok, r.error
    k = r.record.keep
    assert k["method"] == "exact" and len(k["names"]) == 83 and k["names"][80:] == ["scratch", "spot", "crack"]
    assert k["old_outputs"]["ok"] and k["old_outputs"]["images"] >= 8 and k["old_outputs"]["tensors"] > 0
    v = r.record.verification
    assert v["ok"] and v["changed"] == [] and v["checked_tensors"] > 1000  # the whole model but the new branches
    from yolo_transfer.verify import load_model

    trained, source = load_model(r.best), load_model(coco_weights)
    head = trained.model[-1]
    assert head.nc == 83 and isinstance(head.cv2[0], HeadBranches) and isinstance(head.one2one_cv3[0], HeadBranches)
    assert isinstance(head, KeepDetect) and head.branch.start == 11  # frozen-backbone: the neck, copied
    old = source.model[-1]
    for i in range(head.nl):  # the old branches are the checkpoint's, exactly; the new ones moved from their start
        for a, b in zip(head.cv3[i].old.state_dict().values(), old.cv3[i].state_dict().values()):
            assert torch.equal(a.float(), b.float())
    # what trains is exactly the new path: the neck's copy and the new branches of both class heads
    trainable = {k for k, on in TRAINABLE.items() if on}
    assert trainable and all(".new." in k or ".branch." in k for k in trainable)
    assert any(".cv3.0.new." in k for k in trainable) and any(".one2one_cv3.0.new." in k for k in trainable)
    assert any(".cv2.0.new." in k for k in trainable)  # the new classes' boxes are their own
    assert any(k.startswith("model.23.branch.m.") for k in trainable)
    t = r.record.retention  # by construction the checkpoint's classes score what they scored
    assert t["before"] > 0 and t["after"] == pytest.approx(t["before"], abs=1e-6) and t["retention"] == pytest.approx(1)


def test_a_kept_model_opens_restricted_in_a_fresh_process_that_only_benchmarks(exact_run, tmp_path):
    """A process that only imports the function it calls (no train() ran in it) still allows the kept classes'
    modules: benchmark_models opens a kept model restricted, without a refusal (as train_preset and check_parity
    called directly do: each is its own entry to restricted loading)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from yolo_transfer.exporter.benchmark import benchmark_models\n"
        "r = benchmark_models([sys.argv[1]], imgsz=64, batch_sizes=[1], runs=1, warmup=0, max_images=1)\n"
        "print('benchmarked', len(r.results))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(exact_run.best)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "benchmarked" in out.stdout


@pytest.mark.parametrize("preset, start", [("head-only", None), ("frozen-backbone", 11), ("full", 1),
                                           ("freeze:6", 6), ("freeze:18", 18)])  # 18: a head input (16) before it
def test_exact_copies_what_the_preset_trains_and_old_outputs_stay_exact(preset, start, coco_weights):
    """However far the new path branches off, moving everything it trains leaves the old classes' boxes and logits
    bit-identical through the model's own forward; moving one source tensor does not."""
    import copy

    from yolo_transfer.anatomy import Anatomy
    from yolo_transfer.presets import make_plan
    from yolo_transfer.verify import load_model

    source = load_model(coco_weights).float().eval()
    anatomy = Anatomy.of(source)
    assert branch_point(make_plan(preset, anatomy, epochs=4), anatomy) == start
    model = copy.deepcopy(source)
    graft(model, 2, start)
    head = model.model[-1]
    assert isinstance(head, KeepDetect) and (head.branch is None) == (start is None)
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        for name, p in model.named_parameters():  # everything the new path trains, moved well away from its start
            if ".new." in name or ".branch." in name:
                p.add_(torch.randn_like(p))
    for a, b in zip(old_outputs(source, x, 80), old_outputs(model, x, 80)):
        assert torch.equal(a, b)
    (a,), (b,) = old_outputs(source, x, 80, decoded=True), old_outputs(model, x, 80, decoded=True)
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-5)  # decoded on the right anchors, up to float rounding
    assert model.eval()(x)[0].shape[1] == 4 + 82  # and the new classes are scored beside them
    with torch.no_grad():
        head.cv2[0].old[0].conv.weight.add_(1e-3)  # a source tensor in the head moved: the check sees it
    assert not all(torch.equal(a, b) for a, b in zip(old_outputs(source, x, 80), old_outputs(model, x, 80)))


def test_exact_refuses_a_preset_without_one_block_to_copy(coco_weights):
    from yolo_transfer.anatomy import Anatomy
    from yolo_transfer.presets import make_plan
    from yolo_transfer.verify import load_model

    anatomy = Anatomy.of(load_model(coco_weights))
    for preset in ("progressive", "discriminative"):
        with pytest.raises(UserError, match="does not train one block of layers") as e:
            branch_point(make_plan(preset, anatomy, epochs=4), anatomy)
        assert "\n" not in str(e.value)


def test_exact_refuses_moving_bn_statistics_and_a_kept_checkpoint(coco_weights, synth_yaml, tmp_path):
    import copy

    with pytest.raises(UserError, match="--bn-policy train lets the frozen layers' BatchNorm") as e:
        train_preset(coco_weights, synth_yaml, epochs=1, project=tmp_path, keep_classes=True, bn_policy="train", **FAST)
    assert "\n" not in str(e.value)
    ckpt = torch.load(coco_weights, weights_only=False)  # our own test asset: trusted
    kept = copy.deepcopy(ckpt["model"]).float()
    graft(kept, 2, None)
    torch.save({**ckpt, "model": kept, "ema": None}, tmp_path / "kept.pt")
    for kw in ({"keep_classes": True}, {}):  # more classes, or a plain fine-tune: its new path would not load
        with pytest.raises(UserError, match="already holds a keep-classes head"):
            train_preset(tmp_path / "kept.pt", synth_yaml, epochs=1, project=tmp_path, **kw, **FAST)


def test_exact_trains_only_the_new_classes_boxes_and_validates_all(synth_yaml, tmp_path):
    """A dataset class that is a checkpoint class (here 'spot' renamed 'person') cannot train under exact: its boxes
    are left out of the train labels (they would only dilute the new classes' loss) and kept in val."""
    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.training.keep import build_data

    text = synth_yaml.read_text().replace("spot", "person")
    (synth_yaml.parent / "as_person.yaml").write_text(text)
    spec = check_data_yaml(synth_yaml.parent / "as_person.yaml")
    plan = keep_plan(COCO, dict(enumerate(spec.names)), "exact")
    out = build_data(spec, plan, tmp_path / "keep")

    def ids(split):
        return {int(line.split()[0]) for f in (out.parent / "labels" / split).glob("*.txt")
                for line in f.read_text().splitlines() if line.strip()}

    assert 0 not in ids("train") and ids("train") <= {3, 4} and 0 in ids("val")


def test_exact_on_full_trains_a_whole_copy_and_proves_the_old_outputs(coco_weights, synth_yaml, tmp_path):
    r = train_preset(coco_weights, synth_yaml, preset="full", epochs=1, project=tmp_path, keep_classes=True, **FAST)
    assert r.ok, r.error
    assert r.record.keep["branch_from"] == 1 and r.record.keep["old_outputs"]["ok"]


def test_exact_fails_when_an_old_output_changes(coco_weights, synth_yaml, tmp_path):
    """Verified like frozen layers are: a run that moved an old-class weight (here a callback does) is refused."""
    def tamper(trainer):
        head = trainer.model.model[-1]
        with torch.no_grad():
            head.cv3[0].old[-1].bias += 0.5
        trainer.ema.ema.model[-1].cv3[0].old[-1].bias.data += 0.5

    r = train_preset(coco_weights, synth_yaml, epochs=1, project=tmp_path, keep_classes=True,
                     callbacks={"on_train_epoch_end": tamper}, **FAST)
    assert not r.ok and r.record.status == "verification failed"
    assert "changed" in r.error


def test_export_and_predict_take_the_kept_model_unchanged(exact_run, synth_yaml, tmp_path):
    from yolo_transfer.exporter.api import export
    from yolo_transfer.inference.api import predict

    e = export(exact_run.best, "onnx", out_dir=tmp_path, parity_images=synth_yaml.parent / "images" / "val",
               parity_conf=0.01, device="cpu")
    assert e.passed, e.parity.summary()
    s = predict(e.path, synth_yaml.parent / "images" / "val", tmp_path / "pred", conf=0.01, show_progress=False)
    assert s.processed == 8 and len(s.model) > 0
    names = set(json.loads((tmp_path / "pred" / "summary.json").read_text())["per_class"])
    assert names and names <= set(exact_run.record.keep["names"])


def test_plain_fine_tuning_forgets_and_retention_says_so(coco_weights, synth_yaml, coco8_yaml, tmp_path):
    """Without keep-classes the model's names table is the dataset's: COCO's classes are gone (retention 0)."""
    r = train_preset(coco_weights, synth_yaml, epochs=1, project=tmp_path, retention_data=coco8_yaml, **FAST)
    t = r.record.retention
    assert r.ok and t["before"] > 0 and t["after"] == 0 and t["retention"] == 0


def test_distill_adds_pseudo_labels_and_replay_images(coco_weights, synth_yaml, coco8_yaml, tmp_path):
    r = train_preset(coco_weights, synth_yaml, preset="full", epochs=1, project=tmp_path, keep_classes=True,
                     keep_method="distill", replay=coco8_yaml, **FAST)
    assert r.ok, r.error
    from pathlib import Path

    root = Path(r.record.keep["data_yaml"]).parent
    replayed = list((root / "images" / "train").glob("replay_*"))
    assert len(replayed) == 4  # coco8's train split joined the training set, labelled with COCO ids
    labels = (root / "labels" / "train" / f"{replayed[0].stem}.txt").read_text().split()
    assert labels and int(labels[0]) < 80


@pytest.mark.parametrize("args, msg", [
    (["--keep-method", "distill", "--replay", "{coco8}"], None),
    (["--replay", "{coco8}"], "--replay feeds the source domain's images"),
    (["--keep-classes", "--preset", "progressive"], "does not train one block of layers"),
    (["--retention-data", "{synth}"], "none of its classes"),
    (["--keep-classes", "--model", "yolo11n.yaml"], "start from a .pt checkpoint"),
])
def test_cli_bad_keep_options_are_one_line(args, msg, coco_weights, synth_yaml, coco8_yaml, tmp_path):
    if msg is None:
        return  # a valid combination (exercised above)
    argv = ["train", "--data", str(synth_yaml), "--model", str(coco_weights), "--project", str(tmp_path / "runs"),
            "--epochs", "1", *[a.format(coco8=coco8_yaml, synth=synth_yaml) for a in args]]
    if "--model" in args:
        argv[3:5] = []  # the model the case gives instead
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 2 and msg in res.output and res.output.count("\n") == 1, res.output
    assert not (tmp_path / "runs").exists()


def test_images_of_the_same_name_in_two_folders_keep_their_own_labels(tmp_path):
    """The derived dataset flattened images by file name: `a/x.jpg` and `b/x.jpg` shared one label file, the second's
    labels overwriting the first's (keep) or the link failing (retention). Each now keeps its own."""
    from pathlib import Path

    from yolo_transfer.training.keep import link_split

    files = []
    for sub, cls in (("a", 0), ("b", 1)):
        img = tmp_path / "src" / "images" / sub / "x.jpg"
        img.parent.mkdir(parents=True)
        img.write_bytes(b"jpg")
        lab = tmp_path / "src" / "labels" / sub / "x.txt"
        lab.parent.mkdir(parents=True)
        lab.write_text(f"{cls} 0.5 0.5 0.1 0.1\n")
        files.append(img)
    seen = link_split(files, tmp_path / "out", "val", {0: 10, 1: 11})
    out = tmp_path / "out"
    pairs = {Path(p).resolve().parent.name: (out / "labels" / "val" / f"{p.stem}.txt").read_text().split()[0]
             for p in sorted((out / "images" / "val").iterdir())}
    assert pairs == {"a": "10", "b": "11"} and seen == {0, 1}
