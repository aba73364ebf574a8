"""`--data coco8.yaml` resolves as Ultralytics resolves it: local path, its cfg/datasets + DATASETS_DIR, its download.

The stand-in for Ultralytics' datasets folder is a temp DATASETS_DIR holding a copy of coco8 (no network here).
"""

from __future__ import annotations

import shutil
import zipfile

import pytest
from click.testing import CliRunner

from yolo_transfer.cli import main
from yolo_transfer.data.check import check_dataset
from yolo_transfer.data.yolo_layout import resolve_data_yaml
from yolo_transfer.errors import UserError
from yolo_transfer.data.yolo_layout import check_data_yaml


@pytest.fixture
def datasets_dir(tmp_path, monkeypatch):
    """An empty DATASETS_DIR, seen by our resolver and by Ultralytics' check_det_dataset alike."""
    import ultralytics.data.utils
    import ultralytics.utils

    d = tmp_path / "datasets"
    d.mkdir()
    monkeypatch.setattr(ultralytics.utils, "DATASETS_DIR", d)
    monkeypatch.setattr(ultralytics.data.utils, "DATASETS_DIR", d)
    return d


def test_local_path_wins_over_the_name(coco8_yaml, datasets_dir, monkeypatch):
    monkeypatch.chdir(coco8_yaml.parent)  # a coco8.yaml in the working directory is the user's, not Ultralytics'
    assert resolve_data_yaml("coco8.yaml").resolve() == coco8_yaml.resolve()
    assert check_dataset("coco8.yaml", near_duplicates=False, show_progress=False).images == {"train": 4, "val": 4}


@pytest.mark.parametrize("name", ["coco8.yaml", "coco8"])
def test_name_resolves_to_ultralytics_yaml_with_data_in_datasets_dir(name, coco8_yaml, datasets_dir, tmp_path,
                                                                     monkeypatch):
    from ultralytics.utils import ROOT

    monkeypatch.chdir(tmp_path)
    shutil.copytree(coco8_yaml.parent, datasets_dir / "coco8")  # Ultralytics' coco8.yaml says `path: coco8`
    path = resolve_data_yaml(name)
    assert path == ROOT / "cfg" / "datasets" / "coco8.yaml"
    report = check_dataset(name, near_duplicates=False, show_progress=False)
    assert report.ok and report.images == {"train": 4, "val": 4} and len(report.names) == 80
    spec = check_data_yaml(name)  # what `yolo-transfer train --data coco8.yaml` uses
    assert spec.splits["val"] == [datasets_dir / "coco8" / "images" / "val"]


def test_missing_name_downloads_through_ultralytics(coco8_yaml, datasets_dir, tmp_path, monkeypatch):
    """Online and missing: Ultralytics' own check_det_dataset fetches the archive (here a local zip of coco8)."""
    import ultralytics.data.utils
    import ultralytics.utils

    archive = tmp_path / "coco8.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in coco8_yaml.parent.rglob("*"):
            z.write(f, "coco8/" + str(f.relative_to(coco8_yaml.parent)))
    fetched = []

    def fake_download(url, dir=None, **kw):  # stands in for the network only; unzip as Ultralytics does
        fetched.append(url)
        with zipfile.ZipFile(archive) as z:
            z.extractall(dir)

    monkeypatch.setattr(ultralytics.utils, "is_online", lambda: True)
    monkeypatch.setattr(ultralytics.data.utils, "safe_download", fake_download)
    monkeypatch.setattr(ultralytics.data.utils, "check_font", lambda *a, **k: None)
    monkeypatch.chdir(tmp_path)
    path = resolve_data_yaml("coco8.yaml")
    assert fetched and fetched[0].endswith("coco8.zip") and path.name == "coco8.yaml"
    assert (datasets_dir / "coco8" / "images" / "val").is_dir()


def test_offline_and_missing_is_one_actionable_line(datasets_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    r = CliRunner().invoke(main, ["data", "check", "coco8.yaml"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    line = lines[0]
    assert "Ultralytics' dataset coco8" in line and "offline" in line
    assert str(datasets_dir / "coco8") in line and "coco8.zip" in line and "pass the path of a local data.yaml" in line
    with pytest.raises(UserError, match="offline"):
        check_data_yaml("coco8")
    assert not any(datasets_dir.iterdir())  # nothing half-written


def test_unknown_name_says_where_it_looked(datasets_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"data YAML not found: no-such-set.yaml .*cfg/datasets"):
        resolve_data_yaml("no-such-set.yaml")


def test_stats_and_split_take_the_name_too(coco8_yaml, datasets_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(coco8_yaml.parent, datasets_dir / "coco8")
    r = CliRunner().invoke(main, ["data", "stats", "coco8.yaml"])
    assert r.exit_code == 0, r.output
    assert "person" in r.output and (tmp_path / "runs/data-stats/coco8/stats.json").is_file()
    r = CliRunner().invoke(main, ["data", "split", "coco8", str(tmp_path / "resplit"), "--ratios", "0.5,0.5"])
    assert r.exit_code == 0, r.output
    assert "train: 4 images" in r.output and "val: 4 images" in r.output


@pytest.mark.parametrize("args", [
    ["train", "--data", "coco8.yaml", "--weights", "yolo11n.yaml", "--epochs", "1"],
    ["compare", "--data", "coco8.yaml", "--weights", "yolo11n.yaml", "--presets", "full,head-only", "--epochs", "2"],
    ["recommend", "--data", "coco8.yaml", "--weights", "yolo11n.yaml"],
], ids=["train", "compare", "recommend"])
def test_every_command_that_takes_data_resolves_the_name(args, datasets_dir, tmp_path, monkeypatch):
    """The same name means the same dataset everywhere: each command gives the resolver's offline line, not its own
    'not found' for a path relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "Ultralytics' dataset coco8" in r.stderr and "offline" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything was written
