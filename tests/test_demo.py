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
    # it exported through the parity gate and ran batch inference on its own val images
    parity = json.loads((run / "weights" / "best.onnx.parity.json").read_text())
    assert parity["passed"] and parity["raw_output"]["score_max"] < 1e-3
    lines = (run / "predictions" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == len(list((tmp_path / "datasets" / "synthetic-defects" / "images" / "val").iterdir()))
    assert "parity PASSED" in out.output and "batch inference" in out.output
