"""The format registry: every registered format is reachable by name, and refuses clearly what it cannot build."""

from __future__ import annotations

import importlib.util

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.exporter.formats import FORMATS, format_of_path, get_format, precision_of
from yolo_transfer.runtimes import RUNTIMES, THRESHOLDS, openvino_precision_name, runtime_of_path


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_resolves_and_names_its_output(name, tmp_path):
    fmt = get_format(name.upper())
    assert fmt is FORMATS[name]
    output = tmp_path / f"best{fmt.suffix}"
    if fmt.is_dir:
        output.mkdir()
    else:
        output.touch()
    assert format_of_path(output) == name  # benchmark and parity recognise what the exporter wrote


def test_aliases_and_unknown_format():
    assert get_format("tensorrt").name == "engine"
    with pytest.raises(UserError, match="unknown export format 'tflite': choose one of onnx, openvino, engine"):
        get_format("tflite")


def test_precision_flags():
    assert precision_of() == "fp32" and precision_of(16) == "fp16" and precision_of("8") == "int8"
    with pytest.raises(UserError, match="--quantize 4: choose 32"):
        precision_of(4)


def test_engine_requirements_refuse_without_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the no-GPU refusal cannot be observed here")
    with pytest.raises(UserError, match="needs an NVIDIA GPU with CUDA"):
        FORMATS["engine"].requirements("fp16")


@pytest.mark.skipif(importlib.util.find_spec("nncf") is not None, reason="nncf is installed here")
def test_openvino_int8_names_the_missing_package():
    with pytest.raises(UserError, match="pip install nncf"):
        FORMATS["openvino"].requirements("int8")


def test_not_a_model_path(tmp_path):
    with pytest.raises(UserError, match="not a model this tool can run"):
        format_of_path(tmp_path / "weights.tflite")


# ------------------------------------------------------------------------------------- the one table of runtimes


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_every_runtime_is_known_by_its_files_everywhere(name, tmp_path):
    """Export, parity, benchmark and predict all recognise a runtime's file from the same table."""
    from yolo_transfer.inference.backends import BACKENDS, backend_name_for

    r = RUNTIMES[name]
    output = tmp_path / f"best{r.suffix}"
    output.mkdir() if r.is_dir else output.touch()
    assert runtime_of_path(output) is r and format_of_path(output) == name
    assert backend_name_for(output) == name and BACKENDS[name].runtime() is r
    if r.is_dir:  # the .xml inside an OpenVINO folder loads by its folder
        assert r.model_path(output / "best.xml") == output
    for p in r.builds:
        assert r.run_precision(p) == p  # by default a model runs at the precision it was built at
        assert p in THRESHOLDS
    assert set(r.runs_at) <= set(THRESHOLDS)


def test_only_openvino_offers_bf16_and_says_so_in_one_line():
    assert [n for n, r in RUNTIMES.items() if "bf16" in r.runs_at] == ["openvino"]
    with pytest.raises(UserError, match="^ONNX cannot run at BF16 here; choose one of FP32, FP16$"):
        RUNTIMES["onnx"].run_precision("fp32", "bf16")


def test_openvino_precision_names_read_back():
    pytest.importorskip("openvino")
    import openvino as ov

    assert [openvino_precision_name(t) for t in (ov.Type.f32, ov.Type.bf16, ov.Type.f16)] == ["fp32", "bf16", "fp16"]


def test_cli_lists_what_the_table_has():
    from yolo_transfer.cli.export import FORMAT_NAMES

    assert set(FORMAT_NAMES) == set(FORMATS) == {n for n, r in RUNTIMES.items() if r.builds}


def test_ran_at_says_int8_for_every_int8_model():
    """predict's summary, the benchmark table and the parity report all name an INT8 model's precision the same
    way: its int8 ops plus what the rest was read back at (an INT8 OpenVINO IR used to show as FP32 outside parity)."""
    from types import SimpleNamespace

    from yolo_transfer import runtimes

    class Compiled:
        def __init__(self, hint):
            self.hint = hint

        def get_property(self, name):
            return self.hint

    ov = lambda hint: SimpleNamespace(ov_compiled_model=Compiled(hint))  # noqa: E731
    assert runtimes.ran_at(ov("f32"), built="int8") == "int8"
    assert runtimes.ran_at(ov("bf16"), built="int8") == "int8+bf16"
    assert runtimes.ran_at(ov("f32")) == "fp32" and runtimes.ran_at(ov("bf16"), built="fp32") == "bf16"
    assert runtimes.ran_at(SimpleNamespace(fp16=False), fallback="fp32", built="int8") == "int8"
    assert runtimes.ran_at(SimpleNamespace(fp16=True)) == "fp16"
