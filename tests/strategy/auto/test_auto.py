"""`--preset auto`: the cost arithmetic, the scoring rule, bad input, and one real successive-halving run whose winner
continues its own probe on the plain run's schedule."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from yolo_transfer.cli import main as cli
from yolo_transfer.errors import UserError
from yolo_transfer.strategy.auto.policy import epoch_cost, parse_candidates, rungs, score


@pytest.mark.parametrize("n", [2, 3, 4])
def test_cost_is_at_most_one_and_a_half_runs(n):
    for epochs in range(6, 301):
        plan = rungs(epochs, n)
        assert plan[-1] == (epochs, 1)
        assert [s for s, _ in plan] == sorted({s for s, _ in plan})  # strictly increasing rungs
        assert epoch_cost(plan) <= 1.5 * epochs, (epochs, plan)  # 4 candidates too (E = 9: 15 epochs before)
    assert epoch_cost(rungs(60, 3)) == 90  # 3 x 10 + 2 x 10 + 40


def test_candidates():
    assert parse_candidates("auto") == ["frozen-backbone", "full", "progressive"]
    assert parse_candidates("auto:full,head-only") == ["full", "head-only"]
    with pytest.raises(UserError, match="unknown candidate 'bogus'"):
        parse_candidates("auto:full,bogus")
    with pytest.raises(UserError, match="at least 2"):
        parse_candidates("auto:full")


def test_recommend_orders_the_candidates():
    from yolo_transfer.strategy.auto.policy import DEFAULT_CANDIDATES, order_candidates
    from yolo_transfer.strategy.rules import RULES

    assert order_candidates(list(DEFAULT_CANDIDATES), "full") == ["full", "frozen-backbone", "progressive"]
    assert order_candidates(["full", "head-only"], "discriminative") == ["full", "head-only"]  # not among them
    # every preset a rule can recommend is a default candidate, so auto always tries recommend's answer first
    assert {r.preset for r in RULES} <= set(DEFAULT_CANDIDATES)


def test_extrapolation_lets_a_late_riser_win():
    """Frozen leads at the rung, but full gains faster: with 24 epochs left the extrapolated score ranks full first."""
    frozen = score([0.28, 0.30, 0.31], epochs=30, bonus=0.0, extrapolate=0.5)
    full = score([0.20, 0.26, 0.30], epochs=30, bonus=0.0, extrapolate=0.5)
    assert frozen["map"] > full["map"] and full["score"] > frozen["score"]
    flat = score([0.3], epochs=30, bonus=0.01, extrapolate=0.5)  # one epoch: no slope, only the bonus
    assert flat["score"] == pytest.approx(0.31) and flat["slope"] == 0


def test_default_score_is_the_metric_plus_the_bonus():
    """Extrapolation is off by default: a noisy early jump must not outrank a higher mAP (BCCD at 3 min: head-only's
    0.19 with a 0.064/epoch slope scored 0.83 and dropped a frozen backbone at 0.23 that ended best)."""
    head = score([0.085, 0.064, 0.109, 0.192], epochs=24, bonus=0.0)
    frozen = score([0.204, 0.253, 0.229], epochs=18, bonus=0.0)
    assert head["score"] == pytest.approx(0.192) and frozen["score"] > head["score"]


def test_far_domain_bonus_is_zero_near_coco_and_full_far_away():
    from yolo_transfer.strategy.auto.policy import BONUS, bonus_for
    from yolo_transfer.strategy.rules import FAR, NEAR

    assert bonus_for(None) == 0.0 and bonus_for(float("nan")) == 0.0
    assert bonus_for(0.0) == 0.0 and bonus_for(NEAR) == 0.0  # coco128: 0.019 at 320 px (0.053 at 192): COCO itself gets no bonus
    assert bonus_for(FAR) == pytest.approx(BONUS) and bonus_for(3 * FAR) == pytest.approx(BONUS)
    mid = bonus_for((NEAR + FAR) / 2)
    assert 0.0 < mid < BONUS and mid == pytest.approx(BONUS / 2)


def test_simulate_shows_the_freezing_bias_and_its_counterweights():
    """Curves shaped like BCCD's: frozen leads after 1 epoch, full overtakes from epoch 2 and ends best."""
    from yolo_transfer.strategy.auto.policy import simulate

    curves = {"frozen-backbone": [0.14, 0.17, 0.20, 0.22, 0.23, 0.24], "full": [0.13, 0.24, 0.30, 0.33, 0.36, 0.39],
              "head-only": [0.05, 0.08, 0.10, 0.11, 0.12, 0.12]}
    assert simulate(curves, 6) == "full"
    two = {k: curves[k] for k in ("frozen-backbone", "full")}  # 2 candidates: one rung at epoch 2
    assert simulate(two, 6) == "full"
    early = {k: v[:1] + v[:1] + v[1:] for k, v in two.items()}  # full still behind at the only rung (epoch 2)
    assert simulate(early, 7, extrapolate=0.0) == "frozen-backbone"  # mAP alone freezes
    assert simulate(early, 7, bonus={"full": 0.02}) == "full"  # the far-domain bonus keeps full


def test_recommends_preset_holds_unless_clearly_beaten():
    """coco128 at 3 min (seed 2): at rung 2 progressive 0.00754 against recommend's frozen backbone 0.00747 chose
    progressive (0.021 at the end, frozen 0.042). A lead inside the noise (HOLD x the mAP) keeps recommend's preset;
    a clear one (BCCD's full 0.30 vs frozen 0.24) still wins, whatever the scale of the mAPs."""
    from yolo_transfer.strategy.auto.policy import HOLD, holds, rank, simulate

    held = holds(["frozen-backbone", "progressive"], "frozen-backbone")
    assert held == {"frozen-backbone": HOLD, "progressive": 0.0}
    coin = {"progressive": [0.0052, 0.00754], "frozen-backbone": [0.0061, 0.00747]}
    assert rank(coin, 12, {})[0] == "progressive"  # without the hold: the coin toss
    assert rank(coin, 12, {}, hold=held)[0] == "frozen-backbone"
    clear = {"full": [0.24, 0.30], "frozen-backbone": [0.22, 0.24]}
    assert rank(clear, 12, {}, hold=holds(clear, "frozen-backbone"))[0] == "full"
    tenth = {k: [x / 100 for x in v] for k, v in clear.items()}  # the same lead at a hundredth of the mAP
    assert rank(tenth, 12, {}, hold=holds(tenth, "frozen-backbone"))[0] == "full"
    curves = {"frozen-backbone": [0.010, 0.011, 0.012, 0.013, 0.014, 0.015],
              "full": [0.0105, 0.0115, 0.0125, 0.02, 0.03, 0.04]}
    assert simulate(curves, 6) == "full" and simulate(curves, 6, incumbent="frozen-backbone") == "frozen-backbone"


def test_bad_input_fails_before_training(synth_yaml, tiny_model, tmp_path):
    runner = CliRunner()
    base = ["train", "--data", str(synth_yaml), "--weights", str(tiny_model), "--project", str(tmp_path)]
    for extra, msg in ((["--preset", "auto:full,bogus", "--epochs", "6"], "unknown candidate"),
                       (["--preset", "auto", "--epochs", "3"], "--epochs >= 6"),
                       (["--preset", "auto:full,progressive:neck=9,backbone=2", "--epochs", "6"], "progressive")):
        r = runner.invoke(cli, base + extra)
        assert r.exit_code == 2 and r.output.startswith("Error:") and r.output.count("\n") == 1, r.output
        assert msg in r.output
    assert not any(tmp_path.iterdir())  # nothing written


def test_auto_run_continues_the_winner_on_the_plain_schedule(synth_yaml, tiny_model, tmp_path):
    import yolo_transfer

    common = dict(model=tiny_model, epochs=6, imgsz=64, batch=8, device="cpu", workers=0, project=tmp_path,
                  verbose=False, plots=False, seed=0)
    result = yolo_transfer.train(data=synth_yaml, preset="auto:frozen-backbone,full,head-only", name="auto", **common)
    auto_dir = tmp_path / "auto"
    summary = json.loads((auto_dir / "auto.json").read_text())
    assert (auto_dir / "auto.png").read_bytes()[:4] == b"\x89PNG" and "auto.png" in (auto_dir / "auto.md").read_text()
    probes = {p["preset"]: p for p in summary["probes"]}
    chosen = summary["chosen"]
    assert set(probes) == {"frozen-backbone", "full", "head-only"}
    # 3 probes x 1 epoch, 2 x 1 more, the winner to 6: 9 epochs = 1.5 runs, and every epoch was trained once
    assert sorted(p["epochs_run"] for p in probes.values()) == [1, 2, 6]
    assert sum(p["epochs_run"] for p in probes.values()) == summary["epoch_cost"] == 9
    assert probes[chosen]["epochs_run"] == 6 and probes[chosen]["dropped_at_rung"] is None
    assert len(probes[chosen]["scores"]) == 3 and all(len(p["curve"]) == p["epochs_run"] for p in probes.values())
    # the winner is one run: its probe epochs are the first epochs of its history, then resumed twice
    assert result.run_dir == auto_dir / chosen.replace(":", "_") and result.verified and result.error is None
    assert result.record.resumed_at_epoch == [1, 2]
    assert [int(r["epoch"]) for r in result.history] == [1, 2, 3, 4, 5, 6]
    assert summary["seconds_total"] >= sum(p["seconds"] for p in probes.values()) > 0

    # the same preset run plainly has exactly the same learning-rate schedule: probing did not change it
    plain = yolo_transfer.train(data=synth_yaml, preset=chosen, name="plain", **common)
    lr = lambda d: [float(r["lr/pg0"]) for r in csv.DictReader(open(d / "results.csv"))]  # noqa: E731
    assert lr(result.run_dir) == pytest.approx(lr(plain.run_dir), rel=1e-6)


def test_auto_defers_to_a_data_rule_that_trains_the_backbone():
    """Where recommend's answer comes from a data rule that trains the backbone, short probes favour the frozen
    backbone (measured wrong twice: cavity 8 min, BCCD 85:15 5 min), so auto trains recommend's preset; compute and
    tiny-data rules (frozen) still probe, and so do candidates the user named."""
    from yolo_transfer.strategy.auto.policy import DEFER_RULES, defers
    from yolo_transfer.strategy.rules import RULES

    assert {r.name for r in RULES if r.preset in ("full", "progressive", "discriminative")} == set(DEFER_RULES)
    assert all(defers(r, explicit=False) and not defers(r, explicit=True) for r in DEFER_RULES)
    assert not any(defers(r, explicit=False) for r in ("budget-short", "tiny-data", "default", None))


def test_deferred_auto_is_one_plain_run_of_the_recommended_preset(synth_yaml, tiny_model, tmp_path, monkeypatch):
    from yolo_transfer.strategy import recommend as rec_module
    from yolo_transfer.training.record import TransferRecord

    rec = rec_module.Recommendation("progressive", ["[mid-domain] domain distance 0.101 ..."],
                                    {"domain_distance": 0.101}, "mid-domain")
    monkeypatch.setattr(rec_module, "recommend", lambda *a, **k: rec)
    r = CliRunner().invoke(cli, ["train", "--data", str(synth_yaml), "--weights", str(tiny_model), "--preset", "auto",
                                 "--epochs", "6", "--imgsz", "64", "--batch", "8", "--device", "cpu", "--project",
                                 str(tmp_path), "--name", "auto", "workers=0", "plots=false"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "auto" / "auto.json").read_text())
    record = TransferRecord.read(tmp_path / "auto" / "progressive")
    assert summary["deferred_to_recommend"] and summary["chosen"] == "progressive" == record.preset
    assert [p["preset"] for p in summary["probes"]] == ["progressive"] and summary["epoch_cost"] == 6
    assert [int(h["epoch"]) for h in record.history] == [1, 2, 3, 4, 5, 6] and not record.resumed_at_epoch
    assert sorted(d.name for d in (tmp_path / "auto").iterdir() if d.is_dir()) == ["progressive"]
    assert "no probes" in (tmp_path / "auto" / "auto.md").read_text()
    # the terminal says what auto did and where its report is (its own progress lines go to the log when quiet)
    assert "auto: no probes" in r.output and str(tmp_path / "auto" / "auto.md") in r.output
    # as it happens, too: auto's own line (not only in the log), and epoch lines that say which preset they are from
    assert "auto: recommend's mid-domain rule says progressive; training it without probes" in r.output
    assert "progressive  epoch 1/6" in r.output and "progressive  epoch 6/6" in r.output


@pytest.mark.wallclock
def test_timed_auto_takes_shares_of_the_budget_and_finishes_the_winner(synth_yaml, tiny_model, tmp_path):
    """--budget-minutes: every probe runs Ultralytics' time mode (epochs refitted to the budget), is stopped at the
    same share of its own refitted schedule, and the winner runs on to the end of its time-bounded schedule."""
    import yolo_transfer

    result = yolo_transfer.train(data=synth_yaml, preset="auto:frozen-backbone,full,head-only", name="auto",
                                 model=tiny_model, imgsz=64, batch=8, device="cpu", workers=0, project=tmp_path,
                                 verbose=False, plots=False, seed=0, time=12 / 3600)
    summary = json.loads((tmp_path / "auto" / "auto.json").read_text())
    probes = {p["preset"]: p for p in summary["probes"]}
    chosen = probes[summary["chosen"]]
    assert summary["budget_minutes"] == pytest.approx(12 / 60, abs=1e-3)
    assert result.error is None and result.record.status == "complete" and result.record.resumed_at_epoch
    # the winner ran its whole refitted schedule; every dropped probe was cut short of its own
    # (how many epochs fit 12 s depends on the machine's load: the test asserts shares, not counts)
    assert chosen["epochs_run"] == len(result.history) >= 2
    assert all(p["epochs_run"] < chosen["epochs_run"] for p in probes.values() if p is not chosen)
    assert result.record.args["time"] == pytest.approx(12 / 3600)
    for p in probes.values():
        if p is not chosen:
            assert 1 <= p["epochs_run"] < p["epochs_planned"], p
            assert p["epochs_run"] <= 0.45 * p["epochs_planned"] + 1, p  # a share (1/6, 1/3; refits drift), not most


def test_asha_rungs_halve_like_the_local_schedule():
    from yolo_transfer.strategy.auto.asha import asha_rungs

    assert asha_rungs(12, 2, 3) == [(2, 3), (4, 2), (8, 1), (12, 1)]
    assert asha_rungs(6, 1, 3) == [(1, 3), (2, 2), (4, 1), (6, 1)]


@pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None, reason="ray not installed")
def test_ray_engine_runs_the_probes_under_asha(synth_yaml, tiny_model, tmp_path):
    """--engine ray: every candidate is a Tune trial of the ordinary train(); ASHA stops some, the winner ran the
    whole schedule from epoch 1 in one run folder, and the report says which engine and scheduler chose it."""
    import os

    import yolo_transfer

    os.environ.pop("RAY_ADDRESS", None)
    # two candidates: both run at once on 2 CPUs (a third would wait for a free CPU and double the test's time)
    result = yolo_transfer.train(data=synth_yaml, preset="auto:frozen-backbone,full", name="auto",
                                 model=tiny_model, epochs=6, imgsz=64, batch=8, device="cpu", workers=0,
                                 project=tmp_path, verbose=False, plots=False, seed=0, engine="ray")
    summary = json.loads((tmp_path / "auto" / "auto.json").read_text())
    assert summary["engine"] == "ray" and summary["scheduler"]["name"] == "ASHA"
    probes = {p["preset"]: p for p in summary["probes"]}
    chosen = probes[summary["chosen"]]
    assert set(probes) == {"frozen-backbone", "full"}
    assert chosen["epochs_run"] == 6 and chosen["dropped_at_rung"] is None
    assert result.run_dir == tmp_path / "auto" / summary["chosen"] and result.error is None and result.verified
    assert [int(r["epoch"]) for r in result.history] == [1, 2, 3, 4, 5, 6] and not result.record.resumed_at_epoch
    for p in probes.values():  # every probe trained, in its own folder, with its own record
        assert p["epochs_run"] >= 1 and p["curve"] and (tmp_path / "auto" / p["preset"] / "transfer.json").is_file()
        if p is not chosen and p["epochs_run"] < 6:  # stopped by ASHA: marked, and its record says interrupted
            assert p["dropped_at_rung"] and json.loads(
                (tmp_path / "auto" / p["preset"] / "transfer.json").read_text())["status"] == "interrupted"
    assert summary["epoch_cost"] == sum(p["epochs_run"] for p in probes.values()) <= 12
    assert "ASHA" in (tmp_path / "auto" / "auto.md").read_text()


def test_ray_engine_refuses_a_time_budget_and_plain_presets(synth_yaml, tiny_model, tmp_path):
    runner = CliRunner()
    base = ["train", "--data", str(synth_yaml), "--weights", str(tiny_model), "--project", str(tmp_path)]
    for extra, msg in ((["--preset", "auto", "--engine", "ray", "--budget-minutes", "5"], "not a time budget"),
                       (["--preset", "full", "--engine", "ray"], "are for --preset auto")):
        r = runner.invoke(cli, base + extra)
        assert r.exit_code == 2 and r.output.startswith("Error:") and r.output.count("\n") == 1, r.output
        assert msg in r.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("overhead", [0.0, 4.5])
@pytest.mark.parametrize("epoch_seconds", [2.9, 5.3, 7.8, 9.1, 10.4, 14.3, 22.7, 31.0])
def test_timed_rungs_never_spend_more_than_their_share(epoch_seconds, overhead):
    """A dropped probe in a time-bounded auto trains whole epochs up to its share of the budget, never past it (the
    share of Ultralytics' refitted count, a ceil, rounded to nearest, cost 31.2 s of a 30 s share at 7.8 s/epoch),
    set-ups included, so auto stays <= 1.5x the budget; at least one epoch per rung."""
    from yolo_transfer.strategy.auto.policy import timed_rung_epochs

    budget = 180.0
    for fraction, rung in ((1 / 6, 1), (1 / 3, 2)):
        stop = timed_rung_epochs(fraction, rung, budget / 3600, spent=3 * epoch_seconds, done=3, overhead=overhead)
        assert stop >= rung
        if stop > rung:  # the minimum aside, the probe's epochs fit in its share, and one more would not
            assert overhead + stop * epoch_seconds <= fraction * budget + 1e-6 < overhead + (stop + 1) * epoch_seconds


def test_a_probes_share_pays_for_its_set_up():
    """The stop a time-bounded probe gets counts the wall time of its train() call outside the loop (trainer and
    dataset set-up, a resume) and its part of the recommend step: a user pays those seconds too. A 30 s share, 6 s
    of set-up, 1 s of recommend, 5 s epochs: 4 epochs (6 + 1 + 4 x 5 = 27 s), not the 6 the loop alone would fit."""
    import time
    from types import SimpleNamespace

    from yolo_transfer.strategy.auto.probes import timed_stop as _timed_stop

    now = time.time()
    trainer = SimpleNamespace(train_time_start=now - 20.0, epoch=3, start_epoch=0, args=SimpleNamespace(time=0.05))
    assert _timed_stop(1 / 6, 1, wall_before=0.0, t_call=now - 26.0, extra=1.0)(trainer) == 4
    # a resumed session: the earlier call's whole seconds count, the loop clock covers both sessions' epochs
    assert _timed_stop(1 / 3, 2, wall_before=14.0, t_call=now - 28.0, extra=1.0)(
        SimpleNamespace(train_time_start=now - 36.0, epoch=5, start_epoch=0, args=SimpleNamespace(time=0.05))) == 8  # (60 - 7) // 6


def test_report_without_a_recommendation():
    """`--weights yolo11n.yaml` (from scratch) or a .pth: auto runs no recommend, so there is no domain distance;
    the report says so instead of failing after all the training (it formatted None with :.3f)."""
    from yolo_transfer.strategy.auto.report import render_markdown
    from yolo_transfer.strategy.auto.state import AutoState

    probe = {"preset": "full", "epochs_run": 6, "curve": [0.1, 0.2], "scores": [{"score": 0.2}], "seconds": 9.0,
             "wall_seconds": 10.0, "dropped_at_rung": None, "error": None}
    s = {"candidates": ["full", "frozen-backbone"], "epochs": 6, "rungs": [{"epoch": 2}, {"epoch": 6}],
         "epoch_cost": 8, "chosen": "full", "seconds_total": 20.0, "seconds_chosen_run": 10.0, "cost_ratio": 2.0,
         "domain_distance": None, "recommendation": None, "rule": "successive halving", "probes": [probe],
         "chosen_run": "runs/auto/full"}
    assert "domain distance not measured" in render_markdown(AutoState.from_dict(s))


def test_an_interrupted_auto_goes_on_where_it_stopped(synth_yaml, tiny_model, tmp_path):
    """Ctrl-C in the second probe's second epoch: auto.json (status interrupted) holds the first probe's rung and the
    second's folder; `train --resume <auto folder>` does not re-run the first probe's rung, resumes the second from
    its last epoch, and finishes the plan as if never stopped."""
    import yolo_transfer
    from yolo_transfer.training.record import TransferRecord

    import time

    def ctrl_c(trainer):
        if trainer.plan.preset == "full" and trainer.epoch == 0:
            time.sleep(5.0)  # a slow first epoch, so a killed session's seconds show (below)
        if trainer.plan.preset == "full" and trainer.epoch == 1:
            raise KeyboardInterrupt

    common = dict(model=tiny_model, epochs=6, imgsz=64, batch=8, device="cpu", workers=0, project=tmp_path,
                  verbose=False, plots=False, seed=0)
    with pytest.raises(KeyboardInterrupt) as info:
        yolo_transfer.train(data=synth_yaml, preset="auto:frozen-backbone,full", name="auto",
                            callbacks={"on_train_epoch_end": ctrl_c}, **common)
    auto_dir = tmp_path / "auto"
    assert info.value.auto_dir == auto_dir and info.value.run_dir == auto_dir / "full"
    first = json.loads((auto_dir / "auto.json").read_text())
    probes = {p["preset"]: p for p in first["probes"]}
    assert first["status"] == "interrupted" and first["chosen"] is None and first["rung"] == 1
    assert probes["frozen-backbone"]["rung_reached"] == 1 and len(probes["frozen-backbone"]["curve"]) == 2
    assert probes["full"]["run_dir"] == str(auto_dir / "full") and len(probes["full"]["curve"]) == 1

    # as if killed outright (SIGKILL, power cut) before auto.json had the session's seconds: results.csv still has
    # the loop's, and the probe's cost (what its rung share is measured against) must count them
    first["probes"][[p["preset"] for p in first["probes"]].index("full")]["wall_seconds"] = 0.0
    (auto_dir / "auto.json").write_text(json.dumps(first))
    killed = TransferRecord.read(auto_dir / "full")
    killed.train_seconds, killed.status = None, "training"  # the record as the session left it before its end
    killed.write(auto_dir / "full")
    result = yolo_transfer.train(resume=auto_dir)
    summary = json.loads((auto_dir / "auto.json").read_text())
    probes = {p["preset"]: p for p in summary["probes"]}
    # the run's record counts the killed session from results.csv (>= the 5 s epoch); the probe's cost must too
    assert probes["full"]["wall_seconds"] >= TransferRecord.read(auto_dir / "full").train_seconds > 5.0
    assert summary["status"] == "complete" and result.run_dir == auto_dir / summary["chosen"] and result.error is None
    assert summary["seconds_total"] > first["seconds_total"]
    assert sorted(d.name for d in auto_dir.iterdir() if d.is_dir()) == ["frozen-backbone", "full"]  # no re-runs
    for preset in ("frozen-backbone", "full"):  # each ran its epochs once, in order: none repeated, none skipped
        history = [int(h["epoch"]) for h in TransferRecord.read(auto_dir / preset).history]
        assert history == list(range(1, len(history) + 1)) and len(history) >= 2
        assert len(history) == (6 if preset == summary["chosen"] else 2)
    assert TransferRecord.read(auto_dir / "full").resumed_at_epoch  # resumed, not started again
    with pytest.raises(UserError, match="this auto run is complete"):
        yolo_transfer.train(resume=auto_dir)


def test_what_a_resume_rereads_is_json_with_absolute_paths(tmp_path, monkeypatch):
    """auto.json keeps the probes' train() arguments for a resume: paths absolute (a resume may start elsewhere),
    mappings as dicts; a Python object has no faithful JSON form, so that run does not resume (None), rather than
    resume with its repr as a string."""
    from pathlib import Path

    from yolo_transfer.strategy.auto.state import settings_record as _settings_record

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.yaml").write_text("names: [a]\n")
    s = _settings_record({"data": "data.yaml", "class_map": Path("data.yaml"), "weights": "yolo11n.pt",
                          "mosaic": 0.5, "names": __import__("types").MappingProxyType({"a": "b"})})
    assert s == {"data": str(tmp_path / "data.yaml"), "class_map": str(tmp_path / "data.yaml"),
                 "weights": "yolo11n.pt", "mosaic": 0.5, "names": {"a": "b"}}
    assert _settings_record({"augmentations": [object()]}) is None


def test_resuming_an_auto_run_refuses_changed_options(tmp_path):
    (tmp_path / "auto.json").write_text('{"status": "interrupted"}')
    r = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path), "lr0=0.01"])
    assert r.exit_code == 2 and "goes on with the options it started with; drop lr0" in r.output, r.output


@pytest.mark.parametrize("cheapest, refused", [(6.0, False), (2.9, True)])
def test_auto_takes_any_budget_its_cheapest_candidate_fits_3_epochs_of(cheapest, refused, monkeypatch, synth_yaml,
                                                                     tiny_model, tmp_path):
    """One estimator (training.budget) for recommend, compare and auto: a budget where full fits only 2 epochs but the
    frozen backbone 6 is taken (before, a forward-pass guess refused budgets a frozen run fit 8 epochs of)."""
    import yolo_transfer
    from yolo_transfer.strategy.auto import run as auto_run
    from yolo_transfer.training import budget

    fits = {"head-only": cheapest + 1, "frozen-backbone": cheapest, "progressive": 2.5, "full": 2.0}
    fake = budget.BudgetEstimate(1.0, 64, 8, "cpu", 1, 16, 8, 0.001, 0.01, {p: 0.01 for p in fits}, 0.01,
                                 {p: 60 / e for p, e in fits.items()}, fits)
    calls = []
    monkeypatch.setattr(budget, "estimate_budget", lambda *a, **k: calls.append(a) or fake)
    seen = {}
    monkeypatch.setattr(auto_run, "_run", lambda state, *a, **k: seen.setdefault("state", state))
    kw = dict(preset="auto", budget_minutes=1, imgsz=64, batch=8, device="cpu", workers=0, project=tmp_path)
    if refused:
        with pytest.raises(UserError, match="fits only ~2.9 epochs of the cheapest candidate"):
            yolo_transfer.train(tiny_model, synth_yaml, **kw)
        return
    yolo_transfer.train(tiny_model, synth_yaml, **kw)
    state = seen["state"]
    assert state.budget_estimate["epochs"] == fits and len(calls) == 1  # recommend's estimate, reused by auto
    assert state.epochs == 2  # Ultralytics' first guess: the dearest candidate's (refitted by time mode)
