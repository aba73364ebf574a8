"""`yolo-transfer data ...`: exit codes, one-line errors, JSON output; one real subprocess run."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from yolo_transfer.cli import main


def run(*args):
    return CliRunner().invoke(main, ["data", *map(str, args)])


def test_convert_check_split_stats_round_trip(voc_source, tmp_path):
    out = tmp_path / "yolo"
    r = run("convert", voc_source, out)
    assert r.exit_code == 0, r.output
    assert "clipped 1" in r.output and str(out / "data.yaml") in r.output

    r = run("check", out / "data.yaml", "--json")
    assert r.exit_code == 0
    report = json.loads(r.stdout)
    assert report["ok"] is True and report["n_errors"] == 0 and report["images"] == {"train": 6, "val": 6}
    assert report["counts"]["warning:shared-images"] == 1  # no val split in the source: val is train, and it says so

    r = run("split", out / "data.yaml", tmp_path / "split", "--ratios", "0.5,0.5", "--seed", "3")
    assert r.exit_code == 0, r.output
    assert run("check", tmp_path / "split" / "data.yaml").exit_code == 0

    r = run("stats", tmp_path / "split" / "data.yaml", "--out", tmp_path / "stats")
    assert r.exit_code == 0 and "cat" in r.output and (tmp_path / "stats" / "class_instances.png").is_file()


def test_check_exits_1_on_errors_with_file_and_line(voc_source, tmp_path):
    out = tmp_path / "yolo"
    assert run("convert", voc_source, out).exit_code == 0
    (out / "labels/train/plain.txt").write_text("0 0.5 0.5 0.2\n")
    r = run("check", out / "data.yaml", "--no-dedup")
    assert r.exit_code == 1
    assert "labels/train/plain.txt:1: error[field-count]" in r.output and "FAILED" in r.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    for args in (["check", tmp_path / "missing.yaml"], ["convert", tmp_path / "nothing", tmp_path / "out"],
                 ["split", tmp_path / "missing.yaml", tmp_path / "out", "--ratios", "0.9,0.3"],
                 ["stats", tmp_path / "missing.yaml"]):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("Error: "), r.stderr
    assert not (tmp_path / "out").exists()


def test_subprocess_missing_yaml_and_missing_folder(tmp_path):
    (tmp_path / "data.yaml").write_text("names: [a]\ntrain: images/train\nval: images/val\n")
    cmd = [sys.executable, "-m", "yolo_transfer", "data", "check"]
    p = subprocess.run([*cmd, str(tmp_path / "missing.yaml")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    expected = (f"Error: data YAML not found: {tmp_path / 'missing.yaml'} (no such file or folder with data.yaml); "
                "pass the data.yaml of a YOLO-layout dataset or make one with 'yolo-transfer data convert'")
    assert p.stderr.strip().splitlines() == [expected]
    p = subprocess.run([*cmd, str(tmp_path / "data.yaml")], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "data.yaml:2: error[missing-folder]" in p.stdout and "data.yaml:3: error[missing-folder]" in p.stdout
