"""A time-bounded run (`time=` hours) stopped and resumed ends where the same run left alone would have: what
`--preset auto --budget-minutes` does to every probe and `compare --budget-minutes` to an interrupted trial."""

import csv

import pytest

from yolo_transfer.training.timed import (cumulative_seconds, epoch_counts, loop_seconds, mosaic_closed_before,
                                          refit_epochs, rows_before)

FAST = dict(imgsz=64, batch=8, device="cpu", workers=0, plots=False, verbose=False, seed=0)


def test_loop_seconds_sums_sessions_whose_clock_restarted():
    # a run resumed by plain Ultralytics restarts results.csv's `time`: 30 s, then a resumed session of 12 s
    assert loop_seconds([{"time": 10.0}, {"time": 20.0}, {"time": 30.0}, {"time": 5.0}, {"time": 12.0}]) == 42.0
    # resumed here the clock runs on: the last row is the total
    assert loop_seconds([{"time": 10.0}, {"time": 20.0}, {"time": 31.0}]) == 31.0 and loop_seconds([]) == 0.0


def test_refit_is_ultralytics_rule_over_every_session_and_always_moves_on():
    assert refit_epochs(180 / 3600, 3, 84.0) == 7  # ceil(180 / 28)
    assert refit_epochs(60 / 3600, 3, 84.0) == 4  # budget already spent: one more epoch, the clock stops it
    assert [r["epoch"] for r in rows_before([{"epoch": 1}, {"epoch": 2}, {"epoch": 3}], 2)] == [1, 2]
    # killed between the csv and the save at epoch 2, resumed from epoch 1: epoch 2 written twice, the later counts
    rows = [{"epoch": 1, "time": 10.0}, {"epoch": 2, "time": 21.0}, {"epoch": 2, "time": 20.0}, {"epoch": 3, "time": 30.0}]
    assert loop_seconds(rows_before(rows, 3)) == 30.0 and [r["time"] for r in rows_before(rows, 2)] == [10.0, 20.0]


def test_mosaic_closed_before_replays_ultralytics_rule():
    """Ultralytics closes mosaic at the first epoch e >= epochs_e - close_mosaic (epochs_0: the first guess, then
    refitted after each epoch from the mean epoch time)."""
    cum = cumulative_seconds([{"time": 10.0}, {"time": 20.0}, {"time": 30.0}])
    assert cum == [10.0, 20.0, 30.0]

    def closed(hours, close, first_guess, cum):
        return mosaic_closed_before(epoch_counts(hours, first_guess, cum), close)

    assert epoch_counts(180 / 3600, 9, cum) == [9, 18, 18]  # the first guess, then ceil(180 / 10)
    assert closed(180 / 3600, 10, 9, cum)  # a 3-min first guess of 9 epochs: closed at epoch 0
    # 60 min at 10 s/epoch refits to 360 epochs: open for a long while, whatever the first guess of 50
    assert not closed(1.0, 10, 50, cum)
    # a first guess of 50: 150 s refits to 15 epochs after epoch 1 (open until epoch 5); 40 s refits to 4 (closed)
    assert not closed(150 / 3600, 10, 50, cum) and closed(40 / 3600, 10, 50, cum)
    assert not closed(180 / 3600, 0, 9, cum)  # close_mosaic=0: never closed
    assert closed(180 / 3600, 10, None, cum[:1]) is False  # an older record: only the refits decide


def test_a_resumed_short_budget_run_keeps_mosaic_closed(synth_yaml, tiny_model, tmp_path, monkeypatch):
    """A 3-epoch first guess closes mosaic at epoch 0 (Ultralytics' rule in time mode); a resumed session refits to
    many more epochs and reopened it (BCCD at 3 min: -0.1 mAP50-95 the epoch after each auto probe's resume). It
    must close it again before its first epoch."""
    from yolo_transfer.strategy.auto.probes import ProbeStop
    from yolo_transfer.training.api import train_preset as train
    from yolo_transfer.training.trainer import TransferTrainer

    closed_at = []
    original = TransferTrainer._close_dataloader_mosaic

    def spy(self):
        closed_at.append(self.epoch)
        original(self)

    monkeypatch.setattr(TransferTrainer, "_close_dataloader_mosaic", spy)

    def stop_at(epoch):
        def cb(trainer):
            if trainer.epoch == epoch:
                raise ProbeStop("stopped")
        return cb

    with pytest.raises(ProbeStop) as stopped:
        train(tiny_model, synth_yaml, preset="full", epochs=3, time=600 / 3600, project=tmp_path,
              name="timed", callbacks={"on_fit_epoch_end": stop_at(1)}, **FAST)
    assert closed_at == [0]
    with pytest.raises(ProbeStop):
        train(resume=stopped.value.run_dir, device="cpu", callbacks={"on_fit_epoch_end": stop_at(2)})
    assert closed_at[1:2] == [2]  # at the resumed session's first epoch (index 2), before it trained with mosaic


@pytest.mark.wallclock
def test_resumed_time_bounded_run_keeps_its_budget(synth_yaml, tiny_model, tmp_path):
    """Stop a timed run after its first epoch, as an auto probe is stopped, then resume it. Ultralytics alone
    resumes with the epoch count saved before that epoch's refit (the first guess, 2 here) and ends at epoch 2; this
    run goes on until the whole budget is spent, with one clock over both sessions."""
    from yolo_transfer.strategy.auto.probes import ProbeStop
    from yolo_transfer.training.api import train_preset as train

    def stop_after_first(trainer):
        if trainer.epoch == 0:
            raise ProbeStop("probe stopped after epoch 1")

    budget = 14.0
    with pytest.raises(ProbeStop) as stopped:
        train(tiny_model, synth_yaml, preset="frozen-backbone", epochs=2, time=budget / 3600,
              project=tmp_path, name="timed", callbacks={"on_fit_epoch_end": stop_after_first}, **FAST)
    run = stopped.value.run_dir
    first = [float(r["time"]) for r in csv.DictReader(open(run / "results.csv"))]
    assert len(first) == 1 and first[0] < budget / 3  # the budget fits at least 3 epochs

    result = train(resume=run, device="cpu")
    rows = list(csv.DictReader(open(run / "results.csv")))
    times = [float(r["time"]) for r in rows]
    assert result.error is None and result.record.status == "complete" and result.record.resumed_at_epoch == [1]
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1)) and len(rows) >= 3
    assert times == sorted(times)  # one clock: the resumed session counts on from the first
    # it stopped by the budget: the epochs it refitted to, or the clock, not the stale count in the checkpoint
    assert times[-1] >= budget - 2 * max(b - a for a, b in zip([0.0] + times, times))
    assert result.record.args["time"] == pytest.approx(budget / 3600)


def test_a_session_killed_outright_still_counts_in_the_run_seconds(synth_yaml, tiny_model, tmp_path):
    """A session killed without a chance to write its record (power cut, OOM killer; simulated by an exception
    train() does not catch) had its seconds dropped: a resumed cavity `compare` trial then reported 370 s of its
    481 s and won the tie-break as the cheaper preset on that. The resumed run counts the killed session's
    training-loop seconds from results.csv."""
    import time

    from yolo_transfer.training.api import train_preset as train

    class Killed(BaseException):
        pass

    def slow_then_killed(trainer):
        if trainer.epoch == 0:
            raise Killed()

    with pytest.raises(Killed):
        train(tiny_model, synth_yaml, preset="frozen-backbone", epochs=2, project=tmp_path, name="killed",
              callbacks={"on_train_epoch_end": lambda t: time.sleep(4.0), "on_fit_epoch_end": slow_then_killed},
              **FAST)
    run = tmp_path / "killed"
    first = float(next(csv.DictReader(open(run / "results.csv")))["time"])
    assert first >= 4.0  # the killed session's epoch, slowed so that it outweighs a resumed session's set-up

    t = time.time()
    result = train(resume=run, device="cpu")
    second = time.time() - t
    assert result.error is None and result.record.status == "complete" and result.record.resumed_at_epoch == [1]
    assert result.record.train_seconds >= first + 0.5 * second  # without the fix: only the second session's
    assert result.record.train_seconds <= first + second + 1.0


@pytest.mark.wallclock
def test_progressive_under_a_time_budget_thaws_by_the_refitted_count(synth_yaml, tiny_model, tmp_path):
    """progressive's thirds were placed in Ultralytics' first guess of a time-bounded run's length (3 here, 3-12 at
    3 min in the evaluation), so the backbone thawed at epoch 2 of what the budget refits to tens of epochs (cavity:
    epoch 5 of 17). A 600 s budget at ~1 s per epoch must keep the first three epochs on the head alone."""
    from yolo_transfer.strategy.auto.probes import ProbeStop
    from yolo_transfer.training.api import train_preset as train
    from yolo_transfer.training.record import TransferRecord

    def stop_after_third(trainer):
        if trainer.epoch == 2:
            raise ProbeStop("stopped")

    with pytest.raises(ProbeStop) as stopped:
        train(tiny_model, synth_yaml, preset="progressive", epochs=3, time=600 / 3600, project=tmp_path,
              name="prog", callbacks={"on_fit_epoch_end": stop_after_third}, **FAST)
    record = TransferRecord.read(stopped.value.run_dir)
    assert [s["epoch"] for s in record.plan["stages"]] == [0, 1, 2]  # the plan at the first guess
    assert [int(r["stage"]) for r in record.history] == [0, 0, 0]  # as run: thirds of the refitted count


def test_the_record_shows_when_each_stage_ran():
    """transfer.md puts the epoch each stage really started beside the plan's (a time budget moves the shares)."""
    from yolo_transfer.training.report import entered, render_markdown

    history = [{"epoch": e + 1, "stage": s} for e, s in enumerate([0] * 9 + [1] * 8 + [2] * 9)]
    assert entered(history) == {0: 0, 1: 9, 2: 17}
    stages = [{"epoch": 0, "trainable": [22]}, {"epoch": 1, "trainable": [12, 22], "fraction": 1 / 3},
              {"epoch": 2, "trainable": list(range(23)), "fraction": 2 / 3}]
    md = render_markdown({"plan": {"stages": stages}, "source": {}, "data": {}, "history": history,
                          "args": {"time": 0.05}})
    assert "| 1 | 1 (33% of the run) | 9 | 2 |" in md and "| 2 | 2 (67% of the run) | 17 | 23 |" in md
    assert "Time-bounded run" in md


def test_stage_for_never_goes_back():
    """A refit can grow the count again (epochs got faster) and a resumed session starts from its replayed floor:
    the stage in force never falls back, which would freeze layers that have trained."""
    from types import SimpleNamespace

    from yolo_transfer.anatomy import Anatomy, load_detection_model
    from yolo_transfer.presets import make_plan
    from yolo_transfer.training.trainer import TransferTrainer

    plan = make_plan("progressive", Anatomy.of(load_detection_model("yolo11n.yaml").model), epochs=3)
    fake = SimpleNamespace(plan=plan, args=SimpleNamespace(time=0.05), epochs=30, current_stage=None, stage_floor=0)
    stage_for = TransferTrainer.stage_for
    assert [stage_for(fake, e) for e in (0, 9, 10, 19, 20)] == [0, 0, 1, 1, 2]  # thirds of 30
    fake.current_stage, fake.epochs = 1, 90  # in stage 1 at epoch 10, then the count grew to 90
    assert stage_for(fake, 11) == 1
    fake.current_stage, fake.stage_floor = None, 2  # a resumed session whose earlier sessions reached stage 2
    assert stage_for(fake, 11) == 2
    fake.args.time = 0  # an epoch-bounded run keeps the plan's own epochs: 1 and 2 of 3
    fake.stage_floor = 0
    assert [stage_for(fake, e) for e in (0, 1, 2)] == [0, 1, 2]


@pytest.mark.wallclock
def test_a_resumed_progressive_run_never_goes_back_a_stage(synth_yaml, tiny_model, tmp_path):
    """Stopped in a later stage of a short budget, then resumed with a much longer one (the refitted count grows
    tenfold): the shares would put the resumed epoch back on the head alone, freezing layers that had trained. The
    stages the earlier session ran (the record's history, and the replayed counts) are a floor."""
    import time

    from yolo_transfer.strategy.auto.probes import ProbeStop
    from yolo_transfer.training.api import train_preset as train
    from yolo_transfer.training.record import TransferRecord

    def slow(trainer):
        time.sleep(3.0)  # >= 3 s epochs: a 30 s budget refits to <= 10, so stage 1 comes within ~4 epochs

    def in_stage_1(trainer):
        if trainer.current_stage >= 1:
            raise ProbeStop("stopped")

    with pytest.raises(ProbeStop) as stopped:
        train(tiny_model, synth_yaml, preset="progressive", epochs=3, time=30 / 3600, project=tmp_path,
              name="prog", callbacks={"on_train_epoch_end": slow, "on_fit_epoch_end": in_stage_1}, **FAST)
    run = stopped.value.run_dir
    before = [int(r["stage"]) for r in TransferRecord.read(run).history]
    assert before[0] == 0 and before[-1] >= 1, before  # stopped in a later stage

    def next_epoch(trainer):
        raise ProbeStop("stopped")

    with pytest.raises(ProbeStop):
        train(resume=run, device="cpu", time=3600 / 3600, callbacks={"on_fit_epoch_end": next_epoch})
    after = [int(r["stage"]) for r in TransferRecord.read(run).history]
    assert after[:len(before)] == before and after[len(before)] >= before[-1], after


def test_a_run_stopped_early_shuts_its_dataloader_workers_down(synth_yaml, tiny_model, tmp_path, monkeypatch):
    """Ultralytics closes its persistent dataloader workers only at a normal end; every auto probe stopped at its rung
    would leave its workers alive beside the next probe and the winner (on a GPU: on the CPU Ultralytics uses none,
    so the test watches the close itself)."""
    from ultralytics.data.build import InfiniteDataLoader

    from yolo_transfer.strategy.auto.probes import ProbeStop
    from yolo_transfer.training.api import train_preset as train

    closed = []
    original = InfiniteDataLoader.close
    monkeypatch.setattr(InfiniteDataLoader, "close", lambda self: (closed.append(self), original(self)))

    def stop(trainer):
        raise ProbeStop("stopped")

    with pytest.raises(ProbeStop):
        train(tiny_model, synth_yaml, preset="frozen-backbone", epochs=2, project=tmp_path, name="stopped",
              callbacks={"on_fit_epoch_end": stop}, **FAST)
    assert len({id(loader) for loader in closed}) == 2  # the train and the val loader
