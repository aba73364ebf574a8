"""`training.budget`: the one estimate of how many epochs of each preset fit in a wall-clock budget (recommend,
compare and auto all read it), and its error against what Ultralytics' time mode then really runs."""

from __future__ import annotations

import sys

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.training.budget import _stage_weights, epochs_for, estimate_budget

FAST = {"imgsz": 64, "batch": 8, "device": "cpu"}


def test_progressive_is_weighted_by_its_stages_shares():
    from yolo_transfer.anatomy import inspect
    from yolo_transfer.presets import make_plan

    a = inspect("yolo11n.yaml")
    w = _stage_weights(make_plan("progressive", a))
    assert list(w) == [0, 1, 2] and w[0] == pytest.approx(1 / 3, abs=0.01) and sum(w.values()) == pytest.approx(1)
    assert _stage_weights(make_plan("full", a)) == {0: 1.0}


def test_epochs_follow_the_timed_parts(synth_yaml, tiny_model):
    est = estimate_budget(tiny_model, synth_yaml, ["head-only", "frozen-backbone", "full", "progressive"], 10, **FAST)
    e, s = est.epochs, est.step_seconds
    # (which preset is cheaper is measured on real sizes in bench/budget_error.py: at 64 px the steps are overhead)
    assert all(v > 0 for v in s.values()) and all(v > 0 for v in e.values())
    assert est.train_images == 16 and est.val_images == 8 and est.threads is not None
    for p in e:
        epoch = 16 * (est.load_seconds + s[p]) + 8 * est.val_seconds + est.save_seconds
        assert est.epoch_seconds[p] == pytest.approx(epoch + 0.1, rel=0.02)
        assert e[p] == epochs_for(600, est.epoch_seconds[p])
    assert est.cheapest[1] == max(e.values()) and est.dearest[1] == min(e.values())


def test_a_budget_under_one_epoch_is_refused_in_one_line(synth_yaml, tiny_model):
    with pytest.raises(UserError, match="is too small: one epoch of head-only") as e:
        estimate_budget(tiny_model, synth_yaml, ["head-only", "full"], 0.001, **FAST)
    assert "\n" not in str(e.value)


@pytest.mark.wallclock
@pytest.mark.slow
def test_the_estimate_is_near_the_epochs_a_time_bounded_run_really_runs(synth_yaml, tiny_model, tmp_path):
    """The estimator's point: a 30 s budget of full fine-tuning, estimated, then run (the evidence on the shared
    sets at two sizes: docs/evidence/budget.md). Forward-pass estimates were off by 2x; allow 40 % here. The estimate
    times a few seconds and the run lasts 30, so a burst of other load on a shared machine in between moves one pair
    (CI: 128.6 estimated, 88 ran): a miss is measured once more, and two misses in a row fail."""
    from yolo_transfer.training.api import train_preset

    budget_min, misses = 0.5, []
    for attempt in range(2):
        est = estimate_budget(tiny_model, synth_yaml, ["full"], budget_min, **FAST)
        r = train_preset(tiny_model, synth_yaml, preset="full", epochs=max(2, int(est.epochs["full"])),
                         time=budget_min / 60, project=tmp_path / str(attempt), workers=0, plots=False, **FAST)
        ran = len(r.history)
        assert ran > 3, (est.epochs, ran)
        if abs(est.epochs["full"] / ran - 1) <= 0.4:
            return
        misses.append((est.epochs["full"], ran, est.epoch_seconds["full"], open("/proc/loadavg").read().split()[:3]
                       if sys.platform == "linux" else None))
    pytest.fail(f"estimated vs ran epochs missed by more than 40 % twice (estimated, ran, s/epoch, load): {misses}")
