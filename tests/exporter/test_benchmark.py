"""`benchmark`: one row per model with model-only and end-to-end timings, as a table and JSON."""

from __future__ import annotations

import json

from click.testing import CliRunner

from yolo_transfer.cli import main
from yolo_transfer.exporter.benchmark import benchmark_models
from yolo_transfer.exporter.api import export


def test_benchmark_pt_and_exports(tiny_model, synth_images, tmp_path):
    dyn = export(tiny_model, "onnx", imgsz=64, parity=False, out_dir=tmp_path / "dyn").path
    static = export(tiny_model, "onnx", imgsz=64, dynamic=False, parity=False, out_dir=tmp_path / "st").path
    out = tmp_path / "bench" / "bench.json"
    report = benchmark_models([tiny_model, dyn, static], imgsz=64, batch_sizes=(1, 2), images=synth_images,
                              max_images=3, runs=2, warmup=1, out=out)

    assert [r.format for r in report.results] == ["pt", "onnx", "onnx"]
    assert [r.precision for r in report.results] == ["fp32"] * 3
    for r in report.results[:2]:  # .pt and the dynamic ONNX run every batch size
        assert [m.batch for m in r.model_only] == [1, 2]
        assert all(m.latency_ms > 0 and m.throughput_ips > 0 for m in r.model_only)
        assert r.end_to_end_ms > 0 and r.end_to_end_images >= 3
    st = {m.batch: m for m in report.results[2].model_only}
    assert st[1].latency_ms > 0 and st[2].latency_ms is None and "static batch 1" in st[2].note
    saved = json.loads(out.read_text())
    assert len(saved["results"]) == 3
    table = out.with_suffix(".md").read_text()
    assert "b2 ms (img/s)" in table and "static batch 1" in table


def test_cli_benchmark_table_and_bad_input(tiny_model, synth_images, tmp_path):
    res = CliRunner().invoke(main, ["benchmark", str(tiny_model), "--imgsz", "64", "--batch-sizes", "1",
                                    "--images", str(synth_images), "--runs", "2"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 0, res.output
    assert "end-to-end ms/img" in res.output and "| best.pt | pt | FP32 | dynamic |" in res.output

    res = CliRunner().invoke(main, ["benchmark", str(tmp_path / "missing.onnx")])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "not found" in res.output
    res = CliRunner().invoke(main, ["benchmark", str(tiny_model), "--batch-sizes", "1,x"])
    assert res.exit_code == 2 and "--batch-sizes" in res.output
