"""Bad images never stop a run (unless --strict) and never get lost: they land in errors.jsonl with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from yolo_transfer.cli import main


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bad_images_are_listed_and_the_run_goes_on(fall_onnx, bad_folder, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["predict", str(fall_onnx), str(bad_folder), "--out", str(out), "--conf", "0.05"])
    assert res.exit_code == 0, res.output
    bad = {"truncated.jpg", "empty.jpg", "notes.jpg"}
    good = sorted(str(p) for p in bad_folder.rglob("*.jpg") if p.name not in bad)
    preds = _jsonl(out / "predictions.jsonl")
    assert sorted(r["image"] for r in preds) == good
    assert sum(len(r["detections"]) for r in preds) > 0
    errors = {os.path.basename(e["image"]): e["error"] for e in _jsonl(out / "errors.jsonl")}
    assert set(errors) == {"truncated.jpg", "empty.jpg", "notes.jpg"}
    assert "truncated" in errors["truncated.jpg"] and "0 bytes" in errors["empty.jpg"]
    assert "not a decodable image" in errors["notes.jpg"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["images"], summary["processed"], summary["errors"]) == (11, 8, 3)
    assert "3 image(s) could not be read" in (out / "summary.md").read_text()


def test_strict_fails_in_one_line_without_traceback(fall_onnx, bad_folder, tmp_path):
    """A real process: exit code and stderr as a user sees them."""
    out = tmp_path / "strict"
    proc = subprocess.run([sys.executable, "-m", "yolo_transfer", "predict", str(fall_onnx), str(bad_folder),
                           "--out", str(out), "--strict"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--strict" in lines[0], proc.stderr
    assert "empty.jpg" in lines[0] and "Traceback" not in proc.stderr  # sorted order: empty.jpg comes first
    assert (out / "errors.jsonl").read_text() == ""  # strict never records the bad image as done


def test_user_errors_are_one_line(fall_onnx, good_folder, tmp_path):
    runner = CliRunner()
    cases = [
        (["predict", str(tmp_path / "missing.onnx"), str(good_folder), "--out", str(tmp_path / "o1")], "missing.onnx"),
        (["predict", str(fall_onnx), str(tmp_path / "nope"), "--out", str(tmp_path / "o2")], "does not exist"),
        (["predict", str(fall_onnx), str(good_folder), "--out", str(tmp_path / "o3"), "--format", "xml"], "--format"),
        (["predict", str(good_folder / "000000000009.jpg"), str(good_folder), "--out", str(tmp_path / "o4")],
         "unknown model format"),
    ]
    for args, needle in cases:
        res = runner.invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert needle in res.output and res.output.strip().count("\n") == 0, res.output
