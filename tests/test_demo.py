import json

from click.testing import CliRunner

from yolo_transfer.cli import main


def test_demo_runs_offline_from_the_architecture(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    out = CliRunner().invoke(main, ["demo", "--epochs", "1", "--imgsz", "64"])
    assert out.exit_code == 0, out.output
    assert "no COCO checkpoint at hand" in out.output and "starting from yolo11n.yaml" in out.output
    run = tmp_path / "runs" / "demo"
    t = json.loads((run / "transfer.json").read_text())
    assert t["status"] == "complete" and t["preset"] == "full"
    assert (tmp_path / "datasets" / "synthetic-defects" / "data.yaml").exists()
