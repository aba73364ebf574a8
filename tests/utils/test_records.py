"""Every typed record (a run's, a comparison's, an auto run's) is read and written by one base, losing nothing."""

from __future__ import annotations

import json

import pytest

from yolo_transfer.comparison.state import CompareState
from yolo_transfer.errors import UserError
from yolo_transfer.strategy.auto.state import AutoState, Probe
from yolo_transfer.training.record import TransferRecord


def _read(cls, folder):
    return cls.read(folder) if hasattr(cls, "read") else cls.load(folder)


@pytest.mark.parametrize("cls", [TransferRecord, AutoState, CompareState])
def test_keys_of_another_version_survive_a_read_and_a_write(cls, tmp_path):
    rec = cls()
    if cls is AutoState:
        rec.probes = [Probe("full", epochs_run=3)]
    rec.write_json(tmp_path)
    d = json.loads(cls.path(tmp_path).read_text())
    d["from_a_newer_version"] = {"x": [1, 2]}
    cls.path(tmp_path).write_text(json.dumps(d))
    again = _read(cls, tmp_path)
    assert again.extra == {"from_a_newer_version": {"x": [1, 2]}}
    again.write_json(tmp_path)
    assert json.loads(cls.path(tmp_path).read_text()) == d
    if cls is AutoState:
        assert again.probes == [Probe("full", epochs_run=3)]  # typed again, not a dict


@pytest.mark.parametrize("cls", [TransferRecord, AutoState, CompareState])
def test_a_damaged_record_is_one_line_naming_its_file(cls, tmp_path):
    cls.path(tmp_path).write_text("{half written")
    with pytest.raises(UserError) as e:
        _read(cls, tmp_path)
    assert str(cls.path(tmp_path)) in str(e.value) and "\n" not in str(e.value)
    cls.path(tmp_path).write_text("[1, 2]")
    with pytest.raises(UserError, match="expected a JSON object"):
        _read(cls, tmp_path)
