"""End-to-end training through `yolo_transfer.train`: tiny models, one to three epochs, 64 px."""

import json
import os

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from yolo_transfer.errors import UserError
from yolo_transfer.training.api import TrainResult, VerificationError, finish
from yolo_transfer.training.api import train_preset as train
from yolo_transfer.training.record import TransferRecord
from yolo_transfer.verify import verify_run

FAST = dict(imgsz=64, batch=8, device="cpu", workers=0, plots=False, verbose=False, seed=0)


def _layer_tensors(sd, layers):
    return {k: v.clone() for k, v in sd.items() if k.split(".")[1].isdigit() and int(k.split(".")[1]) in layers
            and v.dtype.is_floating_point}


def _ckpt_sd(path):
    from ultralytics.utils.patches import torch_load

    ck = torch_load(path, map_location="cpu")
    return (ck.get("ema") or ck.get("model")).state_dict()


@pytest.fixture(scope="module")
def frozen_backbone_run(synth_yaml, tmp_path_factory) -> TrainResult:
    return train("yolo11n.yaml", synth_yaml, preset="frozen-backbone", epochs=1,
                 project=tmp_path_factory.mktemp("runs"), **FAST)


def test_run_folder_records_everything(frozen_backbone_run):
    r = frozen_backbone_run
    t = json.loads((r.run_dir / "transfer.json").read_text())
    assert t["status"] == "complete" and t["preset"] == "frozen-backbone"
    assert t["verification"]["ok"] and t["verification"]["checked_tensors"] > 0
    assert t["params"]["backbone"]["frozen_throughout"] == t["params"]["backbone"]["total"] > 0
    assert t["params"]["neck"]["frozen_throughout"] == 0
    assert t["data"]["names"] == {"0": "scratch", "1": "spot", "2": "crack"}
    assert t["versions"]["ultralytics"] and t["versions"]["torch"] and t["seed"] == 0
    assert [row["trains_from_epoch"] for row in t["layers"]][:2] == [None, None]
    assert (r.run_dir / "transfer.md").read_text().count("PASSED") == 1
    assert r.best.exists() and "metrics/mAP50-95(B)" in r.metrics
    assert r.verified and r.error is None and r.metrics_source == "last"


def test_result_carries_history_cost_and_typed_record(frozen_backbone_run):
    import csv

    r = frozen_backbone_run
    rows = list(csv.DictReader((r.run_dir / "results.csv").read_text().splitlines()))
    assert len(r.history) == len(rows) == 1
    for key, value in rows[-1].items():  # metrics are the final row of results.csv, number for number
        assert r.metrics[key.strip()] == pytest.approx(float(value)) == r.history[-1][key.strip()]
    epoch = r.history[0]
    assert 0 < epoch["train_seconds"] <= epoch["epoch_seconds"] <= r.seconds
    assert epoch["images_per_s"] > 0 and 50 < r.peak_memory_mb == epoch["peak_memory_mb"] < 64_000
    rec = TransferRecord.read(r.run_dir)
    from yolo_transfer.utils.io import to_json

    assert rec.to_dict() == json.loads(to_json(r.transfer))  # what train() returned is what the folder holds
    assert rec.trainable_params["backbone"] == 0 < rec.trainable_params["head"]
    assert rec.final_val["source"] == "best.pt" and set(rec.final_val["per_class"]) <= {"scratch", "spot", "crack"}


def test_record_keeps_unknown_keys(tmp_path):
    (tmp_path / "transfer.json").write_text(json.dumps({"preset": "full", "future_key": [1, 2]}))
    rec = TransferRecord.read(tmp_path)
    assert rec.preset == "full" and rec.extra == {"future_key": [1, 2]} and rec.status == "new"
    rec.status = "complete"
    rec.write(tmp_path, plot=False)
    again = json.loads((tmp_path / "transfer.json").read_text())
    assert again["future_key"] == [1, 2] and again["status"] == "complete"
    (tmp_path / "transfer.json").write_text("{broken")
    with pytest.raises(UserError, match="not a readable transfer record"):
        TransferRecord.read(tmp_path)


def test_runs_never_overwrite(frozen_backbone_run, synth_yaml):
    again = train("yolo11n.yaml", synth_yaml, preset="head-only", epochs=1,
                  project=frozen_backbone_run.run_dir.parent, **FAST)
    assert again.run_dir != frozen_backbone_run.run_dir
    assert json.loads((frozen_backbone_run.run_dir / "transfer.json").read_text())["preset"] == "frozen-backbone"


def test_tampered_checkpoint_fails_verification(frozen_backbone_run, tmp_path):
    import shutil

    from ultralytics.utils.patches import torch_load

    run = tmp_path / "run"
    shutil.copytree(frozen_backbone_run.run_dir, run)
    ck = torch_load(run / "weights" / "last.pt", map_location="cpu")
    model = ck.get("ema") or ck.get("model")
    with torch.no_grad():
        model.model[2].cv1.conv.weight[0, 0, 0, 0] += 1.0  # a backbone (frozen) tensor
    torch.save(ck, run / "weights" / "last.pt")
    record = TransferRecord.read(run)
    from yolo_transfer.presets import FreezePlan

    plan = FreezePlan.from_dict(record.plan)
    v = verify_run(run / "weights", plan, "frozen", None)
    assert not v.ok and v.changed == ["last.pt:model.2.cv1.conv.weight"]
    result = finish(run, record, plan, None)  # a loop caller gets the verdict, not an exception
    assert not result.verified and "model.2.cv1.conv.weight" in result.error
    assert TransferRecord.read(run).status == "verification failed"
    with pytest.raises(VerificationError, match="model.2.cv1.conv.weight"):
        result.raise_for_status()  # what the CLI does: exit 3


def test_progressive_unfreezes_on_schedule_with_bn_modes(synth_yaml, tmp_path):
    seen = {"bn": {}, "start": None, "grad": {}}

    def on_setup(tr):
        seen["start"] = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}

    def on_batch(tr):
        if tr.epoch not in seen["bn"]:
            seen["bn"][tr.epoch] = {i: {m.training for m in layer.modules() if isinstance(m, _BatchNorm)}
                                    for i, layer in enumerate(tr.model.model)}
            seen["grad"][tr.epoch] = {i: any(p.requires_grad for p in layer.parameters())
                                      for i, layer in enumerate(tr.model.model) if len(list(layer.parameters()))}

    r = train("yolo11n.yaml", synth_yaml, preset="progressive:neck=1,backbone=2", epochs=3,
              project=tmp_path, save_period=1, warmup_epochs=0, nbs=8,  # an optimizer step every batch
              callbacks={"on_pretrain_routine_end": on_setup, "on_train_batch_start": on_batch}, **FAST)
    plan = r.transfer["plan"]
    neck, backbone = plan["parts"]["neck"], plan["parts"]["backbone"]
    start = seen["start"]
    w = r.run_dir / "weights"
    after = {e: _ckpt_sd(w / f"epoch{e}.pt") for e in (0, 1)}
    after[2] = _ckpt_sd(w / "last.pt")

    def changed(sd, layers):
        ref = _layer_tensors(start, set(layers))
        return [k for k, v in ref.items() if "dfl" not in k and not torch.equal(v.to(sd[k].dtype), sd[k])]

    assert not changed(after[0], neck) and not changed(after[0], backbone)
    assert changed(after[1], neck) and not changed(after[1], backbone)
    assert changed(after[2], backbone)
    for epoch in range(3):
        trainable = {s for st in plan["stages"] if st["epoch"] <= epoch for s in st["trainable"]}
        for i, modes in seen["bn"][epoch].items():
            if modes:
                assert modes == {i in trainable}, (epoch, i)
        assert {i for i, g in seen["grad"][epoch].items() if g} == trainable & set(seen["grad"][epoch])


def test_discriminative_lr_ratios_hold_through_warmup_and_schedule(synth_yaml, tmp_path):
    ratios = []

    def on_batch_end(tr):
        groups = tr.optimizer.param_groups
        for g in groups:
            ref = next(x for x in groups if x["param_group"] == g["param_group"] and x.get("lr_scale", 1.0) == 1.0)
            if ref["lr"] > 0:
                ratios.append((g["lr"] / ref["lr"], g["lr_scale"]))

    r = train("yolo11n.yaml", synth_yaml, preset="discriminative:ratio=0.1", epochs=3, project=tmp_path,
              optimizer="SGD", lr0=0.01, warmup_epochs=1, warmup_bias_lr=0.1, nbs=8,  # a step per batch
              callbacks={"on_train_batch_end": on_batch_end}, **FAST)
    assert {round(s, 6) for _, s in ratios} == {0.1, round(0.1 ** 0.5, 6), 1.0}
    for got, want in ratios:
        assert got == pytest.approx(want, rel=1e-6)
    assert {round(g["lr_scale"], 6) for g in r.transfer["param_groups"]} == {0.1, round(0.1 ** 0.5, 6), 1.0}


def test_resume_continues_with_the_same_plan(synth_yaml, tmp_path):
    class Stop(KeyboardInterrupt):
        pass

    def stop_after_epoch_1(tr):
        if tr.epoch == 1:
            raise Stop()

    with pytest.raises(KeyboardInterrupt):
        train("yolo11n.yaml", synth_yaml, preset="progressive:neck=1,backbone=2", epochs=3, project=tmp_path,
              callbacks={"on_fit_epoch_end": stop_after_epoch_1}, **FAST)
    run = next(tmp_path.iterdir())
    assert json.loads((run / "transfer.json").read_text())["status"] == "interrupted"
    state = {}

    def on_epoch(tr):
        state[tr.epoch] = {i for i, layer in enumerate(tr.model.model) if any(p.requires_grad for p in layer.parameters())}
        state["with_params"] = {i for i, layer in enumerate(tr.model.model) if len(list(layer.parameters()))}
        state["groups"] = len(tr.optimizer.param_groups)

    r = train(resume=run, callbacks={"on_train_batch_start": on_epoch})
    assert r.run_dir == run and set(state) == {2, "groups", "with_params"}
    assert state[2] == state["with_params"]  # stage 2: everything trains
    assert r.transfer["resumed_at_epoch"] == [2] and r.transfer["status"] == "complete"


def test_real_checkpoint_frozen_backbone_is_bit_identical(fall_weights, coco8_yaml, tmp_path):
    r = train(fall_weights, coco8_yaml, preset="frozen-backbone", epochs=1, project=tmp_path,
              **{**FAST, "batch": 4})
    v = r.transfer["verification"]
    assert v["ok"] and v["reference"]["source checkpoint"] == v["checked_tensors"] // 2 > 0
    assert v["trainable_changed"] > 0
    assert r.transfer["source"]["sha256"] == __import__("hashlib").sha256(fall_weights.read_bytes()).hexdigest()
    head = r.transfer["head"]["counts"]
    assert head["transferred"] > 0 and head["reinitialised"] > 0  # 2 source classes -> 80 COCO classes


def test_class_map_remaps_head_rows_by_name(fall_weights, synth_yaml, tmp_path):
    cmap = tmp_path / "map.yaml"
    cmap.write_text("crack: Fall\nspot: Normal\n")
    r = train(fall_weights, synth_yaml, preset="head-only", epochs=1, project=tmp_path, class_map=cmap,
              **{**FAST, "batch": 8})
    rows = {m["target"]: m for m in r.transfer["class_mapping"]}
    assert rows["crack"]["source"] == "Fall" and rows["crack"]["how"] == "class-map"
    assert rows["scratch"]["source"] is None
    assert r.transfer["head"]["counts"]["remapped"] > 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("crack: Dragon\n")
    with pytest.raises(UserError, match="Dragon"):
        train(fall_weights, synth_yaml, preset="head-only", epochs=1, project=tmp_path, class_map=bad, **FAST)


def test_ddp_worker_can_rebuild_the_trainer_by_module_path(synth_yaml, tmp_path):
    """Ultralytics' DDP launcher pickles the trainer class and re-creates it in a new process."""
    import os
    import subprocess
    import sys

    from ultralytics.utils.dist import generate_ddp_file

    from yolo_transfer.anatomy import inspect_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.training.trainer import CONTEXT_ENV, TransferTrainer

    plan = make_plan("progressive", inspect_model("yolo11n.yaml")[0], epochs=3)
    ctx = {"plan": plan.to_dict(), "bn_policy": "frozen", "class_map": {}}
    tr = TransferTrainer(overrides={"model": "yolo11n.yaml", "data": str(synth_yaml), "project": str(tmp_path),
                                    "device": "cpu", "epochs": 3, "imgsz": 64}, context=ctx)
    file = generate_ddp_file(tr)
    pt = file[:-3] + ".pt"
    code = (
        "from ultralytics.utils.patches import torch_load\n"
        "from ultralytics.utils import DEFAULT_CFG_DICT\n"
        f"s = torch_load({pt!r}, map_location='cpu')\n"
        "cfg = DEFAULT_CFG_DICT.copy(); cfg.update(save_dir='')\n"
        "t = s['trainer'](cfg=cfg, overrides=s['args'], _callbacks=s['callbacks'])\n"
        "print(type(t).__module__, t.plan.preset, len(t.plan.stages))\n"
    )
    env = {**os.environ, CONTEXT_ENV: json.dumps(ctx)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    os.remove(file)
    os.remove(pt)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "yolo_transfer.training.trainer progressive 3"


def test_cli_exits_3_when_frozen_tensors_changed(synth_yaml, tmp_path, monkeypatch):
    """train() reports the failed verification in its result; the CLI turns it into exit 3."""
    from click.testing import CliRunner

    from yolo_transfer import verify
    from yolo_transfer.cli import main

    real = verify.verify_run

    def tampered(*args, **kwargs):
        v = real(*args, **kwargs)
        v.ok, v.changed = False, ["last.pt:model.0.conv.weight"]
        return v

    monkeypatch.setattr(verify, "verify_run", tampered)
    out = CliRunner().invoke(main, ["train", "--data", str(synth_yaml), "--weights", "yolo11n.yaml", "--preset",
                                    "frozen-backbone", "--epochs", "1", "--imgsz", "64", "--batch", "8", "--device",
                                    "cpu", "--project", str(tmp_path), "workers=0", "plots=False"])
    assert out.exit_code == 3, out.output
    assert "Error: frozen tensors changed" in out.output and "model.0.conv.weight" in out.output
    assert TransferRecord.read(next(tmp_path.iterdir())).status == "verification failed"


def test_cpu_training_uses_the_core_ultralytics_leaves_idle(synth_yaml, tmp_path):
    """On the CPU, Ultralytics loads data in the training thread and runs torch at cores - 1 threads: on a 2-core
    machine half the CPU idled (whole runs 1.4-1.5x slower, bench/train_threads.py). The epochs run at
    `cpu_train_threads()` (every core up to 8) and the record says how many."""
    from yolo_transfer.utils.env import cpu_train_threads

    seen = []
    r = train("yolo11n.yaml", synth_yaml, preset="frozen-backbone", epochs=1, project=tmp_path,
              callbacks={"on_train_epoch_start": lambda tr: seen.append(torch.get_num_threads())}, **FAST)
    assert seen == [cpu_train_threads()] and r.record.cpu_threads == cpu_train_threads()


def test_a_run_holds_its_folder_so_a_resume_from_another_terminal_is_refused(synth_yaml, tmp_path):
    """Two writers in one run folder (a `train --resume` while the run still trains) mixed two runs' epochs, weights
    and records. The run holds its folder from the moment Ultralytics makes it until it ends."""
    import subprocess
    import sys

    from yolo_transfer.utils.lock import LOCK_NAME

    refused = []

    def resume_from_elsewhere(tr):
        note = json.loads((tr.save_dir / LOCK_NAME).read_text())
        assert (note["pid"], note["command"]) == (os.getpid(), "yolo-transfer train")
        p = subprocess.run([sys.executable, "-m", "yolo_transfer", "train", "--resume", str(tr.save_dir)],
                           capture_output=True, text=True, timeout=120)
        refused.append((p.returncode, p.stderr.strip().splitlines()))

    r = train("yolo11n.yaml", synth_yaml, preset="frozen-backbone", epochs=1, project=tmp_path,
              callbacks={"on_train_epoch_start": resume_from_elsewhere}, **FAST)
    code, lines = refused[0]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {r.run_dir} is being written by pid {os.getpid()} (yolo-transfer train, since ")
    assert lines[0].endswith("wait for it, or add --wait")
    assert r.ok and not (r.run_dir / LOCK_NAME).exists()  # released at the end, no trace


@pytest.mark.parametrize("kind", ["run", "auto"])
def test_resume_of_a_folder_another_process_writes_is_refused(kind, tmp_path, hold_folder):
    from yolo_transfer.transfer import train as train_any

    run = tmp_path / "train"
    (run / "weights").mkdir(parents=True)
    if kind == "run":
        (run / "transfer.json").write_text("{}")
        (run / "weights" / "last.pt").write_bytes(b"")
    else:
        (run / "auto.json").write_text("{}")
    child = hold_folder(run, command="train --resume")
    with pytest.raises(UserError, match=rf"^{run} is being written by pid {child.pid} \(yolo-transfer train --resume, "
                                        rf"since .*\); wait for it, or add --wait$"):
        train_any(resume=run)


def test_a_train_folder_without_images_is_refused_before_anything(synth_yaml, tmp_path):
    """Ultralytics failed inside the run (exit 1, a docs link) after making the run folder; now one line, exit 2."""
    import shutil

    from yolo_transfer.data.yolo_layout import check_data_yaml
    from yolo_transfer.transfer import train as train_any

    data = tmp_path / "data"
    shutil.copytree(synth_yaml.parent, data, ignore=shutil.ignore_patterns("*.cache"))
    for img in (data / "images" / "train").iterdir():
        img.unlink()
    with pytest.raises(UserError, match=rf"train {data / 'images' / 'train'} holds no images; put the images there"):
        train_any("yolo11n.yaml", data / synth_yaml.name, epochs=1, project=tmp_path / "runs", **FAST)
    assert not (tmp_path / "runs").exists()
    (data / "empty.txt").write_text("\n")  # an image list with no entry is as empty
    (data / "list.yaml").write_text(f"train: empty.txt\nval: images/val\nnames: [a, b, c]\n")
    with pytest.raises(UserError, match=r"list.yaml:1: train .*empty.txt holds no images"):
        check_data_yaml(data / "list.yaml")


def test_the_frozen_reference_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """On a full disk the snapshot verification reads at the end was left cut short (torch.save straight into the
    run folder): a later resume then judged the run against a broken file. Now it appears whole or not at all."""
    import errno
    from types import SimpleNamespace

    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.training.trainer import TransferTrainer
    from yolo_transfer.verify import REFERENCE_FILE

    model = load_detection_model("yolo11n.yaml").model
    fake = SimpleNamespace(plan=make_plan("frozen-backbone", Anatomy.of(model)), context={"bn_policy": "frozen"},
                           source_sd=None, wdir=tmp_path, held=())

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)  # the last step of the write fails
    with pytest.raises(OSError, match="No space left"):
        TransferTrainer._save_reference(fake, model)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    TransferTrainer._save_reference(fake, model)
    assert [p.name for p in tmp_path.iterdir()] == [REFERENCE_FILE]
    assert "model.0.conv.weight" in torch.load(tmp_path / REFERENCE_FILE)  # the frozen stem, as verify reads it
