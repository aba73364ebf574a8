"""The CLI is a thin face over the API: errors are one line, exit codes are non-zero, no tracebacks."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from yolo_transfer.cli import main


@pytest.fixture
def runner():
    return CliRunner()


def test_inspect_prints_parts_and_totals(runner):
    out = runner.invoke(main, ["inspect", "yolo11n.yaml"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split() == ["layer", "module", "part", "params"]
    assert any(l.split()[:3] == ["23", "Detect", "head"] for l in lines)
    assert any(l.startswith("backbone  layers  0-10") for l in lines)


def test_presets_on_a_model_shows_trainable_counts(runner):
    out = runner.invoke(main, ["presets", "yolov8n.yaml", "--epochs", "9"])
    assert out.exit_code == 0, out.output
    rows = {l.split()[0]: l for l in out.output.splitlines()[1:]}
    assert {"head-only", "frozen-backbone", "full", "freeze:10", "progressive", "discriminative"} <= set(rows)
    assert "(100.0%)" in rows["full"] and "e3:" in rows["progressive"]


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.yaml", "--weights", "yolo11n.yaml"], "data YAML not found: missing.yaml"),
    (["train"], "--data is required"),
    (["inspect", "no/such/model.pt"], "weights file not found"),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "--preset", "bogus"], "unknown preset 'bogus'"),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "--preset", "freeze:99"], "leaves nothing to train"),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "lr=0.1"], "unknown training option 'lr'"),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "epochs"], "must be key=value"),
    (["train", "--resume", "nowhere"], "no transfer.json"),
    # an option's own argument as key=value collided with it (a TypeError and a traceback) or was silently replaced
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "seed=1"], "seed is set by --seed"),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "freeze=3"], "freeze is set by --preset"),
    (["compare", "--data", "{data}", "--weights", "yolo11n.yaml", "seed=1"], "seed is set by --seeds"),
    (["compare", "--data", "{data}", "--weights", "yolo11n.yaml", "time=0.1"], "time is set by --budget-minutes"),
    (["compare", "--data", "{data}", "--weights", "yolo11n.yaml", "verbose=true"], "verbose is set by --verbose"),
    (["compare", "--data", "{data}", "--weights", "yolo11n.yaml", "fraction=0.5"], "fraction is set by --fractions"),
    # a GPU that is not there (a command copied from a GPU machine): one line before any work, on any machine
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "--device", "99"], "--device 99: "),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "--preset", "auto", "--device", "99"], "--device 99: "),
    (["compare", "--data", "{data}", "--weights", "yolo11n.yaml", "--epochs", "1", "--device", "99"], "--device 99: "),
    (["recommend", "--data", "{data}", "--weights", "yolo11n.yaml", "--device", "99"], "--device 99: "),
    (["predict", "yolo11n.pt", "{data}", "--out", "nowhere", "--device", "99"], "--device 99: "),
    (["train", "--data", "{data}", "--weights", "yolo11n.yaml", "--device", "gpu"], "use cpu, mps, or CUDA GPU"),
])
def test_bad_input_is_one_line_and_non_zero(runner, synth_yaml, args, message, monkeypatch):
    # with CUDA_VISIBLE_DEVICES set (a GPU cluster) indices are left to Ultralytics, which maps physical ids
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    out = runner.invoke(main, [a.replace("{data}", str(synth_yaml)) for a in args])
    assert out.exit_code == 2, out.output
    errors = [l for l in out.output.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], out.output
    # CliRunner catches exceptions (no traceback is ever printed into .output): check what was raised instead
    assert isinstance(out.exception, SystemExit) and out.exception.code == 2, out.exception


def test_real_process_exit_code_and_single_stderr_line(tmp_path):
    bad = tmp_path / "data.yaml"
    bad.write_text("train: [unclosed\n")
    p = subprocess.run([sys.executable, "-m", "yolo_transfer", "train", "--data", str(bad), "--weights", "yolo11n.yaml"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("Error: data YAML") and "not readable YAML" in p.stderr


@pytest.mark.parametrize("quiet", ["--quiet", "--no-quiet"])
def test_a_project_that_is_a_file_is_one_line_before_anything(runner, synth_yaml, tmp_path, quiet):
    """`train --project <a file>` was a 32-line FileExistsError (from the quiet log, or Ultralytics' mkdir)."""
    project = tmp_path / "runs"
    project.write_text("not a folder")
    common = ["--data", str(synth_yaml), "--weights", "yolo11n.yaml", "--epochs", "6", "--imgsz", "64", "--device",
              "cpu", "--project", str(project), quiet]
    for args in (["train", *common], ["train", *common, "--preset", "auto"], ["compare", *common]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (args, r.output)
        assert r.stderr.strip().splitlines() == [f"Error: --project {project} is a file; give a folder (existing or "
                                                 f"new)"], args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"] and project.read_text() == "not a folder"


@pytest.mark.parametrize("code, what, exit_code", [
    ("EROFS", "read-only file system; write to another folder, or make this one writable", 2),
    ("EACCES", "permission denied; use a path you may write (and read), or fix its permissions", 2),
    ("ENOSPC", "no space left on the device; free some space or write elsewhere, then rerun (a resumable command "
               "goes on where it stopped)", 1),
])
def test_a_disk_that_refuses_writes_is_one_line_naming_the_path(runner, synth_yaml, tmp_path, monkeypatch, code, what,
                                                                 exit_code):
    """A read-only, foreign or full output folder was a traceback from every command that writes."""
    import errno
    import os
    from pathlib import Path

    out = tmp_path / "stats"
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if str(self).startswith(str(out)):
            err = getattr(errno, code)
            raise OSError(err, os.strerror(err), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    r = runner.invoke(main, ["data", "stats", str(synth_yaml), "--out", str(out)])
    assert r.exit_code == exit_code and isinstance(r.exception, SystemExit), r.output
    assert r.stderr.strip().splitlines() == [f"Error: {out}: {what}"]


def test_other_os_errors_keep_their_traceback_and_ctrl_c_says_what_to_do(runner, synth_yaml, monkeypatch):
    import errno

    from yolo_transfer.data import stats

    def bug(*args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")  # not the disk's doing: a bug, shown as one

    monkeypatch.setattr(stats, "dataset_stats", bug)
    r = runner.invoke(main, ["data", "stats", str(synth_yaml), "--out", "x"])
    assert isinstance(r.exception, OSError) and r.exception.errno == errno.EINVAL

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stats, "dataset_stats", ctrl_c)
    r = runner.invoke(main, ["data", "stats", str(synth_yaml), "--out", "x"])
    assert r.exit_code == 130
    assert r.stderr.strip() == "Interrupted; rerun the same command to finish (predict goes on where it stopped)."
