"""`bench/gpu_check.py --device cpu --smoke`: every step of the GPU check runs, so the script is ready the day a GPU
is lent (it cannot be debugged then: a loan is 15 minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


@pytest.mark.slow
def test_smoke_runs_every_step_on_cpu(coco_weights, tmp_path):
    out = tmp_path / "check"
    # the weights as a user types them, relative to where the script starts (its commands run in --out)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--out", "check",
                           "--weights", os.path.relpath(coco_weights, tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    record = json.loads((out / "gpu_check.json").read_text())
    steps = record["steps"]
    assert list(steps) == ["env", "tests", "train", "predict", "precision", "export", "carry"]
    failed = {n: s.get("error") for n, s in steps.items() if s["status"] == "failed"}
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-2000:], (out / "gpu_check.log").read_text()[-3000:])
    for pair in steps["train"]["pairs"]:  # both sides trained; ours verified its frozen layers; a ratio came out
        assert pair["ours"]["verified"] is True and pair["wall_ratio"] > 0
    assert steps["train"]["pairs"][0]["frozen_layers"]  # frozen-backbone freezes something on the peer too
    agree = steps["predict"]["agreement"]
    assert agree["pairs"] > 0 and agree["min_iou"] >= 0.99 and agree["unmatched"] == 0
    # no FP16 path for a .pt on a CPU: it ran at FP32 and said so
    assert steps["precision"]["status"] == "n/a" and steps["precision"]["fp16"]["ran_at"] == "fp32"
    assert steps["export"]["onnx"]["status"] == "ok" and steps["export"]["engine"]["status"] == "refused"
    assert steps["carry"]["total_mb"] < steps["carry"]["limit_mb"]
    assert "| train |" in (out / "gpu_check.md").read_text()
