"""`yolo_transfer.compare`: tiny YOLO11n from its YAML on the generated set, 64 px, two presets, one or two epochs."""

import csv
import json
import os

import pytest
from click.testing import CliRunner

import yolo_transfer
from yolo_transfer.cli import main
from yolo_transfer.comparison.summary import MAP, ONE_SEED_MARGIN, Trial, pick_winner
from yolo_transfer.errors import UserError
from yolo_transfer.training.record import TransferRecord

FAST = dict(imgsz=64, batch=8, device="cpu", workers=0, plots=False)
AXES = ("Scope", "Data needs", "Compute", "Accuracy", "Overfitting")


def _csv_rows(run_dir):
    rows = list(csv.DictReader((run_dir / "results.csv").read_text().splitlines()))
    return [{k.strip(): float(v) for k, v in r.items()} for r in rows]


@pytest.fixture(scope="module")
def compared(synth_yaml, tmp_path_factory):
    return yolo_transfer.compare("yolo11n.yaml", synth_yaml, presets=("frozen-backbone", "full"), epochs=1,
                                 fractions=(0.5, 1.0), project=tmp_path_factory.mktemp("cmp"), name="c", **FAST)


def test_outputs_written_and_numbers_match_each_run(compared):
    r = compared
    assert [t.id for t in r.trials] == ["frozen-backbone_s0_f0.5", "full_s0_f0.5", "frozen-backbone_s0_f1",
                                        "full_s0_f1"]
    summary = json.loads((r.dir / "summary.json").read_text())
    assert summary["rule"] == r.rule and summary["winner"]["id"] == r.winner.id
    by_id = {t["id"]: t for t in summary["trials"]}
    for t in r.trials:
        assert t.ok and t.run_dir
        rows = _csv_rows(__import__("pathlib").Path(t.run_dir))
        s = by_id[t.id]
        for k, v in rows[-1].items():  # metrics = the final row of the trial's results.csv, number for number
            assert s["metrics"][k] == pytest.approx(v)
        assert len(s["history"]) == len(rows) == 1
        assert s["seconds"] > 0 and s["peak_memory_mb"] > 50 and s["history"][0]["images_per_s"] > 0
        assert s["seconds"] == TransferRecord.read(t.run_dir).train_seconds
    # scope: the frozen backbone trains none of the backbone, full trains all of it
    fb, full = by_id["frozen-backbone_s0_f1"], by_id["full_s0_f1"]
    assert fb["trainable_params"]["backbone"] == 0 < fb["trainable_params"]["head"]
    assert full["trainable_params"]["total"] == full["total_params"]["total"] > fb["trainable_params"]["total"]
    # nested subsets: half the images, and the half-set is inside the full set
    assert by_id["full_s0_f0.5"]["train_images"] == 8 and by_id["full_s0_f1"]["train_images"] == 16
    rows = list(csv.DictReader((r.dir / "summary.csv").read_text().splitlines()))
    assert [row["id"] for row in rows] == [t.id for t in r.trials]
    assert float(rows[3]["mAP50-95_last"]) == pytest.approx(full["metrics"][MAP])


def test_report_has_every_axis_and_embeds_its_plots(compared):
    md = (compared.dir / "report.md").read_text()
    page = (compared.dir / "report.html").read_text()
    for axis in AXES:
        assert f"## {axis}" in md and "<h2 id=" in page and axis in page
    assert page.count("data:image/png;base64,") == 5 and "src='plots/" not in page  # opens offline
    assert "Winner: **" in md and compared.winner.id in md


def test_winner_follows_the_written_rule(compared):
    full_data = [t for t in compared.trials if t.fraction == 1.0]
    top = max(t.score for t in full_data)
    tied = [t for t in full_data if top - t.score <= ONE_SEED_MARGIN]
    assert compared.winner.id == min(tied, key=lambda t: t.seconds).id


def test_rule_ties_within_seed_spread_go_to_the_cheaper_preset():
    def trial(preset, seed, score, seconds):
        t = Trial(preset, seed, 1.0, f"{preset}_{seed}", status="complete", seconds=seconds)
        t.best = {"mAP50-95": score}
        return t

    # full is better on average (0.40 vs 0.39) but the seeds scatter by ~0.03: a tie, the cheaper frozen wins
    trials = [trial("frozen", 0, 0.36, 10), trial("frozen", 1, 0.42, 10), trial("full", 0, 0.37, 20),
              trial("full", 1, 0.43, 20)]
    w, how = pick_winner(trials)
    assert w.preset == "frozen" and w.seed == 1 and how["tied"] == ["frozen", "full"]
    # the same means with tight seeds: full wins outright
    trials = [trial("frozen", 0, 0.390, 10), trial("frozen", 1, 0.391, 10), trial("full", 0, 0.400, 20),
              trial("full", 1, 0.401, 20)]
    assert pick_winner(trials)[0].preset == "full"
    # one seed: within 0.005 is a tie
    assert pick_winner([trial("a", 0, 0.400, 30), trial("b", 0, 0.396, 5)])[0].preset == "b"
    assert pick_winner([trial("a", 0, 0.400, 30), trial("b", 0, 0.390, 5)])[0].preset == "a"
    failed = Trial("c", 0, 1.0, "c_0", status="failed", error="boom")
    assert pick_winner([failed])[0] is None


def test_killed_compare_resumes_without_redoing_finished_trials(synth_yaml, tmp_path):
    calls = {"n": 0}

    def stop_in_second_trial(tr):
        if tr.args.name.startswith("full") and tr.epoch == 0:
            raise KeyboardInterrupt  # after epoch 1 of 2 is saved: last.pt exists

    args = dict(presets="frozen-backbone,full", epochs=2, project=tmp_path, name="c", **FAST)
    with pytest.raises(KeyboardInterrupt):
        yolo_transfer.compare("yolo11n.yaml", synth_yaml, callbacks={"on_fit_epoch_end": stop_in_second_trial}, **args)
    first = tmp_path / "c" / "trials" / "frozen-backbone_s0_f1"
    second = tmp_path / "c" / "trials" / "full_s0_f1"
    assert TransferRecord.read(first).status == "complete" and TransferRecord.read(second).status == "interrupted"
    stamp = {p: p.stat().st_mtime_ns for p in (first / "results.csv", first / "weights" / "best.pt")}

    def count(tr):
        calls["n"] += 1

    r = yolo_transfer.compare("yolo11n.yaml", synth_yaml, callbacks={"on_train_epoch_start": count}, **args)
    assert calls["n"] == 1  # one epoch trained in all: the second trial's remaining epoch
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp  # the finished trial was not retrained
    rec = TransferRecord.read(second)
    assert rec.resumed_at_epoch == [1] and rec.status == "complete" and len(rec.history) == 2
    assert all(t.ok for t in r.trials) and r.winner is not None
    state = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert {v["status"] for v in state["trials"].values()} == {"complete"}


def test_failed_trial_is_reported_and_the_rest_compared(synth_yaml, tmp_path):
    def crash_full(tr):
        if tr.args.name.startswith("full"):
            raise RuntimeError("simulated out of memory")

    r = yolo_transfer.compare("yolo11n.yaml", synth_yaml, presets=("head-only", "full"), epochs=1, project=tmp_path,
                              callbacks={"on_train_epoch_start": crash_full}, **FAST)
    bad = next(t for t in r.trials if t.preset == "full")
    assert bad.status == "failed" and "simulated out of memory" in bad.error
    assert r.winner is not None and r.winner.preset == "head-only"
    summary = json.loads((r.dir / "summary.json").read_text())
    assert "simulated out of memory" in next(t for t in summary["trials"] if t["preset"] == "full")["error"]
    assert "Trials that did not finish" in (r.dir / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--presets", "frozen-backbone,nonsense"], "unknown preset 'nonsense'"),
    (["--presets", "full"], "at least two presets"),
    (["--fractions", "0,1.0"], "--fractions"),
    (["--fractions", "0.5,1.5"], "--fractions"),
    (["--budget-minutes", "0.00001", "--epochs", None], "too small"),
    (["--epochs", None], "exactly one of --epochs"),
])
def test_bad_input_is_one_line_exit_2_before_training(synth_yaml, tmp_path, args, message):
    base = {"--data": str(synth_yaml), "--weights": "yolo11n.yaml", "--presets": "frozen-backbone,full",
            "--epochs": "1", "--imgsz": "64", "--device": "cpu", "--project": str(tmp_path)}
    for k, v in zip(args[::2], args[1::2]):
        if v is None:
            base.pop(k)
        else:
            base[k] = v
    res = CliRunner().invoke(main, ["compare", *[x for kv in base.items() for x in kv]])
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.strip().count("\n") == 0 and "Traceback" not in res.output
    assert not (tmp_path / "compare").exists()  # nothing written, nothing trained


def test_a_comparison_another_process_runs_is_refused_and_waited_for(synth_yaml, tmp_path, hold_folder):
    """Two processes on one compare folder trained the same trial twice and rewrote each other's compare.json."""
    args = dict(presets="head-only,full", epochs=1, project=tmp_path, name="c", **FAST)
    child = hold_folder(tmp_path / "c", command="compare")
    with pytest.raises(UserError, match=rf"^{tmp_path / 'c'} is being written by pid {child.pid} \(yolo-transfer "
                                        rf"compare, since .*\); wait for it, pick another --name, or add --wait$"):
        yolo_transfer.compare("yolo11n.yaml", synth_yaml, **args)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [".yolo-transfer.lock"]  # nothing of its own
    child.kill()
    child.wait()
    hold_folder(tmp_path / "c", command="compare", seconds=1.0)
    r = yolo_transfer.compare("yolo11n.yaml", synth_yaml, wait=True, **args)  # goes on once the other is done
    assert all(t.ok for t in r.trials) and not (r.dir / ".yolo-transfer.lock").exists()


def test_a_project_that_is_a_file_is_refused_before_anything(synth_yaml, tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    for project in (tmp_path / "runs", tmp_path / "runs" / "sub"):
        with pytest.raises(UserError, match=rf"^--project/--name {project / 'compare'} is under {tmp_path / 'runs'}, "
                                            rf"which is a file; give a folder"):
            yolo_transfer.compare("yolo11n.yaml", synth_yaml, epochs=1, project=project, **FAST)


def test_data_yaml_without_val_split_is_refused(synth_yaml, tmp_path):
    bad = tmp_path / "noval.yaml"
    bad.write_text(f"path: {synth_yaml.parent}\ntrain: images/train\nnames: [scratch, spot, crack]\n")
    with pytest.raises(UserError, match="missing 'val'"):
        yolo_transfer.compare("yolo11n.yaml", bad, epochs=1, project=tmp_path, **FAST)
    assert not (tmp_path / "compare").exists()


@pytest.mark.wallclock
def test_budget_bounds_each_trial(synth_yaml, tmp_path):
    """Equal wall time: Ultralytics' time= stops each trial's loop near the budget (plus setup and final val)."""
    r = yolo_transfer.compare("yolo11n.yaml", synth_yaml, presets="head-only,full", budget_minutes=0.15,
                              project=tmp_path, **FAST)
    for t in r.trials:
        assert t.ok and t.epochs >= 2  # it refitted the epochs to the time (one epoch here is ~1 s)
        loop = t.history[-1]["time"]  # Ultralytics' own clock from its first epoch to the last save
        assert 0.8 * 9 <= loop <= 9 + 2 * max(r["epoch_seconds"] for r in t.history), loop
    assert json.loads((r.dir / "summary.json").read_text())["settings"]["budget_minutes"] == 0.15


@pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None, reason="ray not installed")
def test_ray_engine_matches_local_engine(synth_yaml, tmp_path, compared):
    os.environ.pop("RAY_ADDRESS", None)
    r = yolo_transfer.compare("yolo11n.yaml", synth_yaml, presets=("frozen-backbone", "full"), epochs=1,
                              project=tmp_path, name="ray", engine="ray", **FAST)
    local = {t.id: t for t in compared.trials if t.fraction == 1.0}
    assert [t.id for t in r.trials] == list(local)
    summary = json.loads((r.dir / "summary.json").read_text())
    assert summary["engine"] == "ray" and summary["winner"]["id"] in local
    for t in r.trials:
        assert t.ok and t.run_dir.startswith(str(tmp_path / "ray" / "trials"))
        assert set(t.metrics) == set(local[t.id].metrics) and MAP in t.metrics
        assert t.trainable_params == local[t.id].trainable_params  # same plan per preset
        assert t.metrics == {k: pytest.approx(v) for k, v in _csv_rows(__import__("pathlib").Path(t.run_dir))[-1].items()}
    for axis in AXES:
        assert f"## {axis}" in (r.dir / "report.md").read_text()


@pytest.mark.slow
def test_real_checkpoint_on_coco8(coco_weights, coco8_yaml, tmp_path):
    r = yolo_transfer.compare(coco_weights, coco8_yaml, presets="frozen-backbone,full", epochs=1, project=tmp_path,
                              **{**FAST, "imgsz": 128, "batch": 4})
    assert all(t.ok for t in r.trials) and r.winner is not None
    fb, full = (next(t for t in r.trials if t.preset == p) for p in ("frozen-backbone", "full"))
    assert fb.trainable_params["backbone"] == 0 and full.trainable_params["backbone"] > 1_300_000  # YOLO26n's 0-10
    for t in r.trials:
        rec = TransferRecord.read(t.run_dir)
        assert rec.verified and (rec.verification["reference"]["source checkpoint"] > 0) == (t.preset != "full")
        assert rec.source["sha256"] and t.best["source"] == "best.pt" and t.best["per_class"]


@pytest.mark.parametrize("override, option", [("seed", "--seeds"), ("time", "--budget-minutes"),
                                              ("fraction", "--fractions"), ("freeze", "--presets")])
def test_python_overrides_compare_sets_itself_are_refused(synth_yaml, tmp_path, override, option):
    """compare(**overrides) passes the rest to Ultralytics: a key compare sets per trial (seed, time, fraction, the
    preset's freeze) would be silently replaced in every trial. One table (compare.plan.OWN) serves this check and
    the CLI's key=value check."""
    with pytest.raises(UserError, match=f"{override} -> {option}"):
        yolo_transfer.compare("yolo11n.yaml", synth_yaml, epochs=1, project=tmp_path, **FAST, **{override: 1})
    assert not (tmp_path / "compare").exists()


def test_budget_trials_never_start_with_one_epoch():
    """Ultralytics' time= mode still ends a run at its initial `epochs` on the first epoch: never pass 1."""
    from yolo_transfer.comparison.plan import CompareSettings

    s = CompareSettings("d.yaml", "w.pt", ["a", "b"], budget_minutes=4)
    assert s.train_kwargs(1) == {"imgsz": 640, "batch": 16, "time": 4 / 60, "epochs": 2}
    assert s.train_kwargs(7)["epochs"] == 7
    assert "time" not in CompareSettings("d.yaml", "w.pt", ["a", "b"], epochs=3).train_kwargs()


def test_keep_variants_side_by_side_with_retention_as_an_axis(coco_weights, synth_yaml, coco8_yaml, tmp_path):
    """`+keep-exact` beside a plain preset, retention measured on COCO-labelled data: the sixth axis."""
    r = yolo_transfer.compare(coco_weights, synth_yaml, presets="frozen-backbone,head-only+keep-exact", epochs=1,
                              project=tmp_path, retention_data=coco8_yaml, **{**FAST, "imgsz": 96})
    plain, kept = (next(t for t in r.trials if t.preset == p) for p in ("frozen-backbone", "head-only+keep-exact"))
    assert plain.ok and kept.ok, (plain.error, kept.error)
    assert plain.retention["retention"] == 0 and kept.retention["retention"] == pytest.approx(1)
    report = (r.dir / "report.md").read_text()
    assert "## Retention: what the checkpoint knew" in report and "head-only-keep-exact" in report
    rows = (r.dir / "summary.csv").read_text().splitlines()
    assert "retention" in rows[0]


def test_a_budget_is_estimated_for_keep_variants_by_their_preset(synth_yaml, monkeypatch):
    """`full+keep-distill` under a budget costs as `full`: the estimator was handed the variant's name and refused
    every budgeted compare with a keep variant ("unknown preset")."""
    from yolo_transfer.comparison import plan
    from yolo_transfer.training import budget

    seen = {}
    monkeypatch.setattr(budget, "estimate_budget", lambda w, d, presets, *a, **k: seen.setdefault("presets", presets))
    s = plan.CompareSettings(str(synth_yaml), "yolo11n.yaml", ["frozen-backbone", "full", "full+keep-distill"],
                             budget_minutes=4)
    plan.check_budget(s)
    assert seen["presets"] == ["frozen-backbone", "full"]
