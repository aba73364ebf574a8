"""An interrupted run, rerun with the same --out, ends with exactly one result per image."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.predict.api import predict
from yolo_transfer.predict.backends import OnnxBackend


@pytest.fixture
def many_images(tmp_path, coco8_images):
    root = tmp_path / "many"
    root.mkdir()
    for k in range(3):
        for src in coco8_images:
            shutil.copy(src, root / f"{k}_{src.name}")
    (root / "broken.jpg").write_bytes(b"")
    return root


def _images(path):
    return [json.loads(line)["image"] for line in path.read_text().splitlines()]


def _assert_exactly_once(out, folder):
    expected = sorted(str(p) for p in folder.iterdir() if p.name != "broken.jpg")
    seen = _images(out / "predictions.jsonl")
    assert sorted(seen) == expected, Counter(seen).most_common(3)
    assert _images(out / "errors.jsonl") == [str(folder / "broken.jpg")]
    csv_rows = (out / "predictions.csv").read_text().splitlines()[1:]
    assert {row.split(",")[0] for row in csv_rows} == set(expected)
    coco = json.loads((out / "coco_images.json").read_text())
    assert sorted(i["path"] for i in coco["images"]) == expected
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["processed"], summary["errors"], summary["complete"]) == (len(expected), 1, True)


def test_sigkill_then_resume(fall_onnx, many_images, tmp_path):
    out = tmp_path / "out"
    # The child slows each model call down so there is time to kill it between two commits.
    script = textwrap.dedent(f"""
        import time, sys
        from yolo_transfer.predict.backends import OnnxBackend
        infer = OnnxBackend.infer
        OnnxBackend.infer = lambda self, x: (time.sleep(0.12), infer(self, x))[1]
        from yolo_transfer.cli import main
        sys.exit(main(["predict", {str(fall_onnx)!r}, {str(many_images)!r}, "--out", {str(out)!r}, "--batch", "1",
                       "--format", "jsonl,csv,coco"]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = out / ".state" / "ledger.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (ledger.exists() and ledger.read_text().count("\n") >= 1):
        time.sleep(0.05)
    time.sleep(0.3)  # land the kill between commits, with uncommitted lines already written
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    done = len(_images(out / "predictions.jsonl"))
    assert 0 < done < 24

    summary = predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", batch=1)
    assert 0 < summary.this_session["resumed_from"] < 25
    _assert_exactly_once(out, many_images)


def test_failure_midway_keeps_committed_work_and_resume_completes(fall_onnx, many_images, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = {"n": 0}
    infer = OnnxBackend.infer

    def flaky(self, x):
        calls["n"] += bool(x.any())  # count real batches, not the all-zero warm-up
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what Ctrl-C looks like to the pipeline
        return infer(self, x)

    monkeypatch.setattr(OnnxBackend, "infer", flaky)
    with pytest.raises(KeyboardInterrupt):
        predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", batch=4)
    monkeypatch.setattr(OnnxBackend, "infer", infer)
    # On interrupt the sink commits everything that reached it: the images of the batches before the failure, in
    # source order (shape buckets run out of order, results never do), nothing more.
    from yolo_transfer.predict.sources import list_images

    committed = _images(out / "predictions.jsonl")
    in_order = [r.path for r in list_images(many_images) if not r.path.endswith("broken.jpg")]
    assert 2 <= len(committed) < 24 and committed == in_order[:len(committed)]
    # A torn write after the last commit (killed mid-line) is cut off on resume.
    with open(out / "predictions.jsonl", "a") as f:
        f.write('{"image": "/half/written.jpg", "detec')
    with open(out / ".state" / "ledger.jsonl", "a") as f:
        f.write('{"images": ["/half')
    summary = predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", batch=4)
    assert summary.this_session["resumed_from"] >= len(committed)
    _assert_exactly_once(out, many_images)

    again = predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", batch=4)  # nothing left to do
    assert again.this_session["images"] == 0
    _assert_exactly_once(out, many_images)

    with pytest.raises(UserError, match="different conf"):
        predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", conf=0.5)
    (out / "my-notes.txt").write_text("keep me")
    fresh = predict(fall_onnx, many_images, out, formats="jsonl", conf=0.5, overwrite=True)
    assert fresh.this_session["resumed_from"] == 0 and not (out / "predictions.csv").exists()
    assert len(_images(out / "predictions.jsonl")) == 24
    assert (out / "my-notes.txt").read_text() == "keep me"  # --overwrite removes only what a run writes

    shutil.rmtree(out / ".state")  # outputs without a ledger cannot be resumed safely: refuse, don't append
    with pytest.raises(UserError, match="predictions.jsonl but no resume ledger"):
        predict(fall_onnx, many_images, out, formats="jsonl", conf=0.5)
