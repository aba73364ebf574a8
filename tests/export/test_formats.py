"""The format registry: every registered format is reachable by name, and refuses clearly what it cannot build."""

from __future__ import annotations

import importlib.util

import pytest

from yolo_transfer.errors import UserError
from yolo_transfer.export.formats import FORMATS, format_of_path, get_format, precision_of


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
    assert precision_of() == "fp32" and precision_of(half=True) == "fp16" and precision_of(int8=True) == "int8"
    with pytest.raises(UserError, match="exclusive"):
        precision_of(half=True, int8=True)


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
