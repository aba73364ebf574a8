"""Export + parity gate: every CPU format passes the gate on real and tiny models; broken comparisons fail it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from yolo_transfer.cli import main
from yolo_transfer.errors import UserError
from yolo_transfer.exporter.api import export
from yolo_transfer.exporter.formats import FORMATS
from yolo_transfer.exporter.parity import THRESHOLDS, ParityFailed, Thresholds, check_parity
from yolo_transfer.utils.hashing import sha256_file

CPU_FORMATS = [name for name, f in FORMATS.items() if not f.needs_cuda]


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _metadata(path: Path) -> dict:
    if path.suffix == ".onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    import yaml

    return yaml.safe_load((path / "metadata.yaml").read_text())


@pytest.mark.parametrize("fmt", CPU_FORMATS)
def test_tiny_model_export_passes_gate_and_carries_provenance(fmt, tiny_run, synth_images):
    result = export(tiny_run, fmt, imgsz=64, parity_images=synth_images, parity_conf=0.001, device="cpu")

    assert result.path.exists() and result.path.parent == tiny_run.parent
    report = json.loads(result.parity_path.read_text())
    assert report["passed"], report["failures"]
    compared = report["comparisons"]["ultralytics"]["compared"]
    assert compared > 0, "the gate compared no boxes: the test would be vacuous"
    assert report["comparisons"]["ultralytics"]["iou_min"] >= THRESHOLDS["fp32"].min_iou
    if fmt == "onnx":  # the deployable runner is part of the ONNX gate
        assert report["comparisons"]["standalone"]["compared"] == compared
    assert report["runtime_precision"]["exported"] == "fp32"  # FP32 means FP32, whatever this CPU would pick
    assert result.parity_path.with_name(result.parity_path.name.replace(".json", ".md")).exists()

    meta = _metadata(result.path)
    assert meta["source_sha256"] == sha256_file(tiny_run)
    assert meta["preset"] == "small-data" and meta["pretrained_from"] == "yolo11n.yaml"  # from transfer.json
    assert "scratch" in str(meta["names"]) and "64" in str(meta["imgsz"])
    assert not [p for p in tiny_run.parent.iterdir() if p.name.startswith(".export-")]  # no build leftovers


@pytest.mark.slow
@pytest.mark.parametrize("fmt", CPU_FORMATS)
def test_fall_model_passes_gate_with_map(fmt, fall_weights, person_yaml, tmp_path):
    """The real checkpoint, at a conf where its scores mean something, on images where it scores well."""
    result = export(fall_weights, fmt, imgsz=320, data=person_yaml, parity_conf=0.1, out_dir=tmp_path,
                          device="cpu")

    p = result.parity
    assert p.passed, p.failures
    assert p.comparisons["ultralytics"].compared >= 20 and p.conf >= 0.1
    # Dynamic export (the default) and the .pt both letterbox to the minimum rectangle: like with like.
    assert p.preprocess["reference"].startswith("rect") and p.preprocess["exported"].startswith("rect")
    assert p.runtime_precision["reference"] == p.runtime_precision["exported"] == "fp32"
    m, limit = p.map50_95, THRESHOLDS["fp32"].max_map_diff
    assert m["reference"] >= 20 * limit, "the reference mAP must be far above the allowed difference"
    assert m["diff_points"] <= limit


@pytest.fixture(scope="module")
def fall_static_onnx(fall_weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fall-static")
    return export(fall_weights, "onnx", imgsz=160, dynamic=False, parity=False, out_dir=out).path


def test_static_export_against_rect_reference_fails_gate(fall_weights, fall_static_onnx, coco8_images):
    """The classic silent difference: .pt letterboxes to a rectangle, a static ONNX to a square."""
    fair = check_parity(fall_weights, fall_static_onnx, imgsz=160, images=coco8_images, conf=0.1, write=False)
    assert fair.passed, fair.failures
    assert fair.preprocess["reference"].startswith("square")

    broken = check_parity(fall_weights, fall_static_onnx, imgsz=160, images=coco8_images, conf=0.1,
                          reference_rect=True)
    assert not broken.passed
    assert broken.preprocess["reference"].startswith("rect") and "square" in broken.preprocess["exported"]
    saved = json.loads(Path(str(fall_static_onnx) + ".parity.json").read_text())
    assert saved["passed"] is False and saved["failures"]


def test_different_model_fails_gate(tiny_model, fall_static_onnx, coco8_images):
    report = check_parity(tiny_model, fall_static_onnx, imgsz=160, images=coco8_images, conf=0.1, write=False)
    assert not report.passed
    assert any("class names differ" in f for f in report.failures)
    # ... and on the boxes themselves, not on the names alone: the fall model's people find no twin
    box_failures = [f for f in report.failures if f.startswith("ultralytics:")]
    assert box_failures and "unmatched" in box_failures[0]
    assert report.comparisons["ultralytics"].unmatched_exported >= 5


# ------------------------------------------------------------------------------------------------------------ CLI


def test_cli_export_writes_report_and_exits_zero(tiny_run, synth_images):
    res = CliRunner().invoke(main, ["export", str(tiny_run), "--imgsz", "64", "--parity-images", str(synth_images),
                                    "--parity-conf", "0.001"])
    assert res.exit_code == 0, res.output
    assert "parity PASSED" in res.output
    assert json.loads((tiny_run.parent / "best.onnx.parity.json").read_text())["passed"]


def test_cli_failed_gate_exits_one_with_reason_and_report(tiny_run, synth_images, monkeypatch):
    impossible = Thresholds(min_iou=1.01, max_score_error=0.0, max_mean_score_error=0.0, max_unmatched_fraction=0.0,
                            max_map_diff=0.0)
    monkeypatch.setitem(THRESHOLDS, "fp32", impossible)
    res = CliRunner().invoke(main, ["export", str(tiny_run), "--imgsz", "64", "--parity-images", str(synth_images),
                                    "--parity-conf", "0.001"])
    assert res.exit_code == ParityFailed.exit_code == 1
    err = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1 and "parity FAILED" in err[0] and "IoU min" in err[0] and "report:" in err[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--format", "coreml"], "unknown export format 'coreml'"),
        (["--half", "--int8"], "exclusive"),
        (["--quantize", "8"], "--quantize 8 (INT8) calibrates on a dataset"),
        (["--int8"], "--quantize 8 (INT8) calibrates on a dataset"),  # the hidden alias of --quantize 8
        (["--end2end", "--nms"], "--end2end and --nms exclude each other"),
        (["--end2end"], "has none (a classic one-to-many head); drop --end2end"),
        (["--parity-conf", "0"], "--parity-conf must be in (0, 1]"),
        (["--parity-images", "/nonexistent/dir"], "--parity-images /nonexistent/dir not found"),
        (["--batch", "0"], "--batch must be >= 1"),
    ],
)
def test_cli_bad_options_one_line(tiny_model, args, expected):
    res = CliRunner().invoke(main, ["export", str(tiny_model), *args])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and expected in res.output


def test_cli_missing_checkpoint(tmp_path):
    res = CliRunner().invoke(main, ["export", str(tmp_path / "nope" / "best.pt")])
    assert res.exit_code == 2 and res.output.startswith("Error:") and "not found" in res.output


@pytest.mark.skipif(_has_gpu(), reason="checks the no-GPU error; this machine has a GPU")
def test_tensorrt_without_gpu_fails_before_any_work(tiny_run):
    before = sorted(p.name for p in tiny_run.parent.iterdir())
    res = CliRunner().invoke(main, ["export", str(tiny_run), "--format", "engine", "--quantize", "16"])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "NVIDIA GPU" in res.output
    assert sorted(p.name for p in tiny_run.parent.iterdir()) == before  # nothing written


def test_cli_corrupt_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"this is not a checkpoint")
    res = CliRunner().invoke(main, ["export", str(bad)])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "cannot load it as an Ultralytics checkpoint" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no half-built export left behind


def test_subprocess_missing_checkpoint_single_stderr_line(tmp_path):
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "yolo_transfer", "export", str(tmp_path / "missing.pt")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "missing.pt" in lines[0]
    assert "Traceback" not in proc.stderr


def test_failed_export_keeps_previous_file(tiny_run, monkeypatch):
    """A crash mid-export leaves the earlier export untouched and no temporary folders behind."""
    old = tiny_run.parent / "best.onnx"
    old.write_bytes(b"previous export")
    from ultralytics.engine.model import Model

    def boom(self, **kwargs):
        raise RuntimeError("simulated exporter crash\nwith a second line")

    monkeypatch.setattr(Model, "export", boom)
    with pytest.raises(UserError, match="ONNX export of .* failed: simulated exporter crash$"):
        export(tiny_run, "onnx", imgsz=64, parity=False)
    assert old.read_bytes() == b"previous export"
    assert not [p for p in tiny_run.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="TensorRT needs an NVIDIA GPU with CUDA; none here")
def test_tensorrt_fp16_engine_passes_gate(fall_finetuned, coco8_yaml, tmp_path):
    pytest.importorskip("tensorrt", reason="tensorrt not installed")
    result = export(fall_finetuned, "engine", quantize=16, imgsz=96, data=coco8_yaml, parity_conf=0.005,
                          out_dir=tmp_path)
    assert result.parity.passed, result.parity.failures
    assert result.parity.comparisons["ultralytics"].compared > 0


def _onnx_tensor_types(path: Path) -> tuple[int, dict[int, int]]:
    """(input element type, {element type: number of weight tensors}) of an ONNX file."""
    import onnx

    m = onnx.load(str(path))
    kinds: dict[int, int] = {}
    for t in m.graph.initializer:
        kinds[t.data_type] = kinds.get(t.data_type, 0) + 1
    return m.graph.input[0].type.tensor_type.elem_type, kinds


def test_fp16_onnx_passes_fp16_gate(fall_weights, coco8_images, tmp_path):
    import onnx

    result = export(fall_weights, "onnx", quantize=16, imgsz=160, parity_images=coco8_images, parity_conf=0.1,
                          out_dir=tmp_path, device="cpu")
    report = json.loads(result.parity_path.read_text())
    assert report["passed"], report["failures"]
    assert report["precision"] == "fp16" and report["thresholds"]["min_iou"] == THRESHOLDS["fp16"].min_iou
    assert report["comparisons"]["ultralytics"]["compared"] > 0
    assert report["comparisons"]["ultralytics"]["score_error_max"] > 0  # really FP16: scores move a little
    # really FP16 on disk: the weights are stored as FP16 (Ultralytics keeps an FP32 input and casts it inside)
    inp, kinds = _onnx_tensor_types(result.path)
    fp16, fp32 = kinds.get(onnx.TensorProto.FLOAT16, 0), kinds.get(onnx.TensorProto.FLOAT, 0)
    assert fp16 >= 100 and fp32 <= 2, kinds
    assert report["runtime_precision"]["exported"] == "fp16"


@pytest.mark.slow
def test_int8_onnx_is_quantized_and_passes_int8_gate(fall_weights, person_yaml, tmp_path):
    import onnx

    result = export(fall_weights, "onnx", quantize=8, imgsz=320, data=person_yaml, parity_conf=0.1,
                          out_dir=tmp_path, device="cpu")
    assert result.path.name.endswith("_int8.onnx") and result.precision == "int8"
    report = json.loads(result.parity_path.read_text())
    assert report["passed"], report["failures"]
    assert report["precision"] == "int8" and report["thresholds"] == asdict(THRESHOLDS["int8"])
    assert "val split" in report["images_source"] and report["comparisons"]["ultralytics"]["compared"] >= 20
    m = report["map50_95"]
    assert m["reference"] >= 5 * THRESHOLDS["int8"].max_map_diff and m["diff_points"] <= THRESHOLDS["int8"].max_map_diff
    # really quantized: int8 weight tensors and quantize/dequantize nodes in the graph
    _, kinds = _onnx_tensor_types(result.path)
    assert kinds.get(onnx.TensorProto.INT8, 0) + kinds.get(onnx.TensorProto.UINT8, 0) > 20
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv"}
    assert _metadata(result.path)["source_sha256"] == sha256_file(fall_weights)


def test_raw_outputs_prove_a_model_that_scores_no_box(tiny_run, synth_images, tmp_path):
    """A barely trained model has no box above the gate's conf; the raw head outputs still have to match."""
    from yolo_transfer.exporter.api import export
    from yolo_transfer.exporter.parity import check_parity

    res = export(tiny_run, "onnx", imgsz=64, parity_images=synth_images, parity_conf=0.99, out_dir=tmp_path)
    assert res.parity.comparisons["ultralytics"].compared == 0
    assert res.passed and res.parity.raw["box_px_max"] < 0.1 and res.parity.raw["score_max"] < 1e-3
    # the same export judged against a different .pt (same architecture, other weights): raw outputs give it away
    other = tmp_path / "other.pt"
    from ultralytics import YOLO

    m = YOLO(str(tiny_run))
    import torch

    with torch.no_grad():
        for p in m.model.model[-1].parameters():
            p.add_(0.05)
    m.save(other)
    bad = check_parity(other, res.path, images=synth_images, conf=0.99, imgsz=64, write=False)
    assert not bad.passed and any("raw outputs differ" in f for f in bad.failures)


# ------------------------------------------------------------------------------------------------------ precision
# OpenVINO compiles FP32 IRs at bf16 on CPUs with AVX512-bf16/AMX unless told otherwise. These tests force the
# default both ways (YOLO_TRANSFER_OPENVINO_DEFAULT) and read back what really ran, so they hold on any CPU.


@pytest.fixture(scope="module")
def fall_openvino(fall_weights, tmp_path_factory) -> Path:
    pytest.importorskip("openvino", reason="openvino not installed")
    out = tmp_path_factory.mktemp("fall-ov")
    return export(fall_weights, "openvino", imgsz=320, parity=False, out_dir=out, device="cpu").path


def test_fp32_openvino_runs_at_fp32_and_reports_ultralytics_runner(fall_weights, fall_openvino, coco8_images,
                                                                   monkeypatch):
    monkeypatch.setenv("YOLO_TRANSFER_OPENVINO_DEFAULT", "bf16")  # a CPU where OpenVINO would pick bf16
    p = check_parity(fall_weights, fall_openvino, imgsz=320, images=coco8_images, conf=0.1)

    assert p.passed, p.failures
    assert p.runtime_precision["reference"] == p.runtime_precision["exported"] == "fp32"
    assert p.thresholds == THRESHOLDS["fp32"]
    runner = p.runtime_precision["ultralytics_runner"]  # read back from the compiled model: what really ran
    assert runner in ("bf16", "fp32")
    assert p.comparisons["ultralytics_runner"].compared == p.comparisons["ultralytics"].compared > 0
    saved = json.loads(Path(str(fall_openvino) + ".parity.json").read_text())
    assert saved["passed"] and saved["runtime_precision"] == p.runtime_precision
    md = Path(str(fall_openvino) + ".parity.md").read_text()
    if runner == "bf16":  # this CPU has bf16: the user is told, in one line, what Ultralytics' runner gives
        note = saved["runner_note"]
        assert note and "\n" not in note and "at BF16 on this CPU" in note and "FP32" in note
        assert "Ultralytics' own runner" in md and note in md
        c = p.comparisons
        assert c["ultralytics_runner"].score_error_max > c["ultralytics"].score_error_max  # bf16 moves scores
    else:  # no bf16 here: OpenVINO dropped the hint, nothing to warn about
        assert saved["runner_note"] is None and saved["runner_failures"] == []

    monkeypatch.setenv("YOLO_TRANSFER_OPENVINO_DEFAULT", "fp32")  # a CPU without bf16: nothing else to run
    q = check_parity(fall_weights, fall_openvino, imgsz=320, images=coco8_images, conf=0.1, write=False)
    assert q.passed and "ultralytics_runner" not in q.comparisons and q.runner_note is None
    assert q.runtime_precision["exported"] == "fp32"


def test_forced_bf16_hint_fails_the_fp32_gate_where_it_takes_effect(fall_weights, fall_openvino, coco8_images,
                                                                    monkeypatch):
    """The bug this gate exists for: an FP32 export silently computed at bf16 must not pass as FP32."""
    from yolo_transfer import runtimes

    monkeypatch.setattr(runtimes, "openvino_hint", lambda precision: "bf16")
    p = check_parity(fall_weights, fall_openvino, imgsz=320, images=coco8_images, conf=0.1, write=False)
    ran = p.runtime_precision["exported"]
    assert p.thresholds == THRESHOLDS["fp32"]
    if ran == "bf16":
        assert not p.passed
        assert p.failures[0] == "the export ran at BF16, not the FP32 it was pinned to"
        assert "FP32 run at BF16" in p.summary() and "FAILED" in p.summary()
    else:  # a CPU without bf16 ignores the hint: the export really ran at FP32
        assert ran == "fp32" and p.passed, p.failures


def test_pinned_openvino_compiles_once_with_the_hint(fall_openvino, monkeypatch):
    """Pinning hooks the hint into the compile Ultralytics makes (one compile per load, its own device and config
    kept), instead of compiling a second time from a re-read model."""
    import openvino as ov
    from ultralytics.nn.autobackend import AutoBackend

    from yolo_transfer.runtimes import compiled_precision, pinned_openvino

    calls = []

    class CountingCore(ov.Core):
        def compile_model(self, *args, **kwargs):
            calls.append(dict(kwargs.get("config") or {}))
            return super().compile_model(*args, **kwargs)

    monkeypatch.setattr(ov, "Core", CountingCore)
    with pinned_openvino("fp32"):
        backend = AutoBackend(str(fall_openvino), device=__import__("torch").device("cpu"))
    assert len(calls) == 1 and calls[0]["INFERENCE_PRECISION_HINT"] == "f32", calls
    assert calls[0].get("PERFORMANCE_HINT") == "LATENCY"  # Ultralytics' own config is still there
    assert compiled_precision(backend.backend.ov_compiled_model if hasattr(backend, "backend") else
                              backend.ov_compiled_model) == "fp32"
    assert ov.Core is CountingCore  # the patch is undone after the load


def test_bf16_is_an_explicit_choice_with_its_own_thresholds(fall_weights, fall_openvino, coco8_images):
    p = check_parity(fall_weights, fall_openvino, imgsz=320, images=coco8_images, conf=0.1, write=False,
                     runtime_precision="bf16")
    assert p.passed, p.failures
    assert p.thresholds == THRESHOLDS["bf16"] and asdict(p.thresholds) == p.to_dict()["thresholds"]
    assert p.runtime_precision["exported"] in ("bf16", "fp32")  # fp32 where the CPU has no bf16
    assert "ultralytics_runner" not in p.comparisons  # the user chose the precision: nothing to warn about


def test_bf16_refused_where_the_runtime_has_no_such_choice(tiny_run):
    res = CliRunner().invoke(main, ["export", str(tiny_run), "--format", "onnx", "--runtime-precision", "bf16"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "ONNX cannot run at BF16" in res.output
    assert not (tiny_run.parent / "best.onnx").exists()  # refused before any work


def test_export_of_a_real_run_records_what_it_was_trained_from(tiny_model, synth_yaml, tmp_path):
    from yolo_transfer.training.api import train_preset as train

    run = train(str(tiny_model), synth_yaml, preset="frozen-backbone", epochs=1, project=tmp_path / "runs",
                name="ft", imgsz=64, batch=8, device="cpu", workers=0, plots=False, verbose=False, seed=0)
    result = export(run.best, "onnx", imgsz=64, parity=False, device="cpu")
    meta = _metadata(result.path)
    assert meta["pretrained_from"] == str(Path(tiny_model).resolve())
    assert meta["pretrained_sha256"] == sha256_file(tiny_model)
    assert meta["preset"] == "frozen-backbone" and meta["source_sha256"] == sha256_file(run.best)


def test_an_export_whose_gate_stops_leaves_no_stale_verdict_beside_it(tiny_run, synth_images, tmp_path, monkeypatch):
    """A second export into the same folder replaces the export first; if its gate is then stopped (Ctrl-C) the
    first export's parity report must not stand beside the new export as if it were its verdict."""
    import yolo_transfer.exporter.api as api

    first = export(tiny_run, "onnx", imgsz=64, parity_images=synth_images, parity_conf=0.001, out_dir=tmp_path,
                   device="cpu")
    assert first.parity_path.is_file()

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "check_parity", stop)
    with pytest.raises(KeyboardInterrupt):
        export(tiny_run, "onnx", imgsz=64, parity_images=synth_images, out_dir=tmp_path, device="cpu")
    assert first.path.is_file() and not first.parity_path.exists()
    assert not list(tmp_path.glob(".export-*"))  # no half-built folder either
