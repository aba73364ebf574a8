"""An interrupted run, rerun with the same --out, ends with exactly one result per image."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.inference.api import predict
from yolo_transfer.inference.backends import OnnxBackend


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
    # The child kills itself at a chosen point, not after a guessed delay: the sink commits after every result, and
    # right after writing the 7th result (its lines flushed to the files, not yet in the ledger) the process gets
    # SIGKILL. So 6 images are committed and one torn, uncommitted result sits in the outputs.
    script = textwrap.dedent(f"""
        import os, signal, sys
        from yolo_transfer.inference import sink as S
        init, write, seen = S.Sink.__init__, S.Sink._write, []

        def init_every_result(self, writers, ledger, bar=None, commit_every=1.0, **kw):
            init(self, writers, ledger, bar, 0.0, **kw)

        def write_then_die(self, r):
            write(self, r)
            seen.append(r)
            if len(seen) == 7:
                for w in self.writers:
                    f = getattr(w, "f", None)
                    if f is not None:
                        f.flush()  # the uncommitted lines reach the file, as an OS buffer flush would
                os.kill(os.getpid(), signal.SIGKILL)

        S.Sink.__init__, S.Sink._write = init_every_result, write_then_die
        from yolo_transfer.cli import main
        sys.exit(main(["predict", {str(fall_onnx)!r}, {str(many_images)!r}, "--out", {str(out)!r}, "--batch", "1",
                       "--format", "jsonl,csv,coco", "--device", "cpu"]))
    """)
    child = subprocess.run([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert not (out / "summary.json").exists()
    ledger = (out / ".state" / "ledger.jsonl").read_text().splitlines()
    committed = sum(len(json.loads(line)["images"]) for line in ledger if line.strip())
    assert committed == 6
    assert len((out / "predictions.jsonl").read_text().splitlines()) + len(_images(out / "errors.jsonl")) == 7

    summary = predict(fall_onnx, many_images, out, formats="jsonl,csv,coco", batch=1, device="cpu")
    assert summary.this_session["resumed_from"] == 6
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
    from yolo_transfer.inference.sources import list_images

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


def test_summary_counts_each_committed_image_once(fall_onnx, good_folder, tmp_path):
    """Two runs into one --out (before the folder lock) committed the same images twice, and the summary summed the
    commits: 232 "processed" for 128 images. Every count now comes from the per-image committed results."""
    out = tmp_path / "out"
    first = predict(fall_onnx, good_folder, out, device="cpu")
    ledger = out / ".state" / "ledger.jsonl"
    ledger.write_text(ledger.read_text() * 2)  # every image committed twice, as the second writer did
    again = predict(fall_onnx, good_folder, out, device="cpu")
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    per_class = Counter(d["class_name"] for line in lines for d in line["detections"])
    assert again.processed == first.processed == len(lines) == 8
    assert again.detections == first.detections == sum(per_class.values())
    assert again.per_class == dict(per_class) and again.images_with_detections == sum(bool(x["detections"])
                                                                                     for x in lines)
    assert json.loads((out / "summary.json").read_text())["processed"] == 8


def test_a_second_run_into_the_same_out_is_refused_in_one_line(fall_onnx, good_folder, tmp_path, hold_folder):
    from click.testing import CliRunner

    from yolo_transfer.cli import main

    out = tmp_path / "out"
    child = hold_folder(out)
    r = CliRunner().invoke(main, ["predict", str(fall_onnx), str(good_folder), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"Error: {out} is being written by pid {child.pid} (yolo-transfer predict, since "
        f"{r.stderr.split('since ')[1].split(')')[0]}); wait for it, use another --out, or add --wait"]
    assert sorted(p.name for p in out.iterdir()) == [".yolo-transfer.lock"]  # nothing of its own written
    child.kill()  # its holder is gone (killed, no cleanup): the next run takes the folder over at once
    child.wait()
    summary = predict(fall_onnx, good_folder, out, device="cpu", wait=True)  # nothing to wait for now
    assert summary.complete and summary.processed == 8


def test_a_full_disk_is_one_line_and_the_rerun_finishes(fall_onnx, many_images, tmp_path, monkeypatch):
    import errno

    from click.testing import CliRunner

    from yolo_transfer.cli import main
    from yolo_transfer.inference import writers

    out = tmp_path / "out"
    write, calls = writers.JsonlWriter.write, {"n": 0}

    def full_disk(self, r):  # the file system fills up at the 10th result: write() raises ENOSPC, naming no file
        calls["n"] += 1
        if calls["n"] == 10:
            self.f.write = lambda data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        return write(self, r)

    monkeypatch.setattr(writers.JsonlWriter, "write", full_disk)
    args = ["predict", str(fall_onnx), str(many_images), "--out", str(out), "--batch", "1", "--format", "jsonl,csv,coco"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert r.stderr.strip().splitlines() == [
        f"Error: {out / 'predictions.jsonl'}: no space left on the device; free some space or write elsewhere, then "
        f"rerun (a resumable command goes on where it stopped)"]
    monkeypatch.setattr(writers.JsonlWriter, "write", write)  # space freed
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    _assert_exactly_once(out, many_images)


def test_a_ledger_from_before_per_image_results_still_resumes(tmp_path):
    """A run interrupted before the upgrade: its commits hold totals only; they count as they were, once."""
    from yolo_transfer.inference.resume import Ledger

    state_dir = tmp_path / ".state"
    state_dir.mkdir()
    old = {"images": ["/a.jpg", "/b.jpg"], "offsets": {"jsonl": 120}, "ok": 1, "errors": 1,
           "per_class": {"0": 3}, "with_detections": 1, "seconds": 0.5}
    new = {"images": ["/c.jpg"], "classes": [{"0": 1, "2": 2}], "offsets": {"jsonl": 180}, "seconds": 0.25}
    (state_dir / "ledger.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(new) + "\n")
    st = Ledger(tmp_path).load()
    assert st.done == {"/a.jpg", "/b.jpg", "/c.jpg"} and st.offsets == {"jsonl": 180}
    assert (st.ok, st.errors, st.images_with_detections, dict(st.per_class)) == (2, 1, 2, {0: 4, 2: 2})
    assert st.seconds == 0.75 and st.commits == 2
