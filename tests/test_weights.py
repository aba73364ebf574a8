import shutil

import pytest

import yolo_transfer.weights as weights_mod

from yolo_transfer.errors import UserError
from yolo_transfer.weights import ENV_VAR, resolve_model, resolve_weights


def test_existing_path_is_returned(fall_weights):
    assert resolve_weights(fall_weights) == fall_weights


def test_missing_path_names_the_file(tmp_path):
    with pytest.raises(UserError, match="not found: .*nope.pt"):
        resolve_weights(tmp_path / "nope.pt")


def test_name_is_found_in_the_weights_folder_before_any_download(tmp_path, monkeypatch, fall_weights):
    shutil.copy(fall_weights, tmp_path / "yolov8s.pt")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert resolve_weights("yolov8s.pt") == tmp_path / "yolov8s.pt"


@pytest.fixture
def no_local_weights(tmp_path, monkeypatch):
    """Only an empty folder to search: the README tells offline users to keep yolo11n.pt in $YOLO_TRANSFER_WEIGHTS
    (or Ultralytics' weights_dir), and the test must not find theirs."""
    empty = tmp_path / "weights"
    empty.mkdir()
    monkeypatch.setenv(ENV_VAR, str(empty))
    monkeypatch.setattr(weights_mod, "search_dirs", lambda: [empty])
    monkeypatch.chdir(tmp_path)
    return empty


@pytest.mark.parametrize("name", ["yolo11n.pt", "yolo26n.pt"])
def test_offline_official_name_is_one_actionable_line(no_local_weights, monkeypatch, name):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    tmp_path = no_local_weights
    with pytest.raises(UserError) as e:
        resolve_weights(name)
    msg = str(e.value)
    assert "\n" not in msg and "offline" in msg and str(tmp_path) in msg and ENV_VAR in msg


def test_unknown_name_is_not_sent_to_download(no_local_weights):
    with pytest.raises(UserError, match="not an Ultralytics release name"):
        resolve_weights("my-detector.pt")


def test_yaml_is_an_architecture_not_weights():
    assert resolve_model("yolo11n.yaml") == "yolo11n.yaml"
    with pytest.raises(UserError, match="architecture YAML"):
        resolve_weights("yolo11n.yaml")
