"""A sweep's trial folder is skipped, resumed or restarted by one rule, for compare's trials and auto's probes alike."""

from __future__ import annotations

import pytest

from yolo_transfer.sweep import trial
from yolo_transfer.training.record import TransferRecord


def _folder(tmp_path, status: str | None, last: bool = False, damaged: bool = False):
    run = tmp_path / "trial"
    run.mkdir()
    if status is not None:
        TransferRecord(status=status).write_json(run)
    if damaged:
        TransferRecord.path(run).write_text("{not json")
    if last:
        (run / "weights").mkdir()
        (run / "weights" / "last.pt").write_bytes(b"")
    return run


@pytest.mark.parametrize("status, last, damaged, expected", [
    (None, False, False, "start"),  # nothing there
    ("training", False, False, "start"),  # stopped inside its first epoch: nothing to keep
    ("training", True, False, "resume"),
    ("interrupted", True, False, "resume"),
    ("complete", True, False, "skip"),
    ("verification failed", False, False, "skip"),  # finished: its failure is a result
    ("failed", True, True, "resume"),  # an unreadable record does not lose the checkpoint
    (None, True, False, "start"),  # a last.pt without a record is no run of ours to resume
])
def test_the_action_for_a_trial_folder(tmp_path, status, last, damaged, expected):
    assert trial.action(_folder(tmp_path, status, last, damaged)) == expected


def test_run_resumes_with_what_a_resume_may_change_and_restarts_a_stale_folder(tmp_path, monkeypatch):
    import yolo_transfer.training.api as api

    calls = []
    monkeypatch.setattr(api, "train_preset", lambda **kw: calls.append(kw) or "result")
    run = _folder(tmp_path, "interrupted", last=True)
    assert trial.run(run, {"preset": "full", "epochs": 9}, {"device": "cpu"}) == "result"
    assert calls[-1] == {"resume": run, "callbacks": None, "device": "cpu"}

    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "leftover.txt").write_text("half an epoch")
    trial.run(stale, {"preset": "full", "epochs": 9}, {"device": "cpu"}, callbacks={"on_fit_epoch_end": print})
    assert not stale.exists()  # cleared, then started in the same folder (train_preset makes it)
    assert calls[-1] == {"project": tmp_path, "name": "stale", "callbacks": {"on_fit_epoch_end": print},
                         "preset": "full", "epochs": 9}
