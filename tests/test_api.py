"""The front door: real signatures and docstrings on every public function, `TransferModel` mirroring them, and the
CLI and Python taking the same options for each command (one config schema, two faces)."""

from __future__ import annotations

import inspect

import click
import pytest

import yolo_transfer
from yolo_transfer.cli import main

FUNCTIONS = ["train", "compare", "recommend", "export", "predict", "check_parity", "inspect"]


@pytest.mark.parametrize("name", yolo_transfer.__all__)
def test_every_public_name_resolves_to_a_documented_object(name):
    obj = getattr(yolo_transfer, name)
    assert obj is not None
    if callable(obj) and not isinstance(obj, type):
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_functions_have_real_signatures(name):
    fn = getattr(yolo_transfer, name)
    params = inspect.signature(fn).parameters
    kinds = [p.kind for p in params.values()]
    assert inspect.Parameter.VAR_POSITIONAL not in kinds, f"{name}(*args, ...) hides its arguments"
    named = [p for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert len(named) >= 1 and all(p.annotation is not inspect.Parameter.empty for p in named), name
    assert fn.__module__.startswith("yolo_transfer.") and fn.__module__ != "yolo_transfer"  # not a shim
    assert (fn.__doc__ or "").strip()


@pytest.mark.parametrize("name", ["train", "compare", "recommend", "export", "predict"])
def test_the_model_comes_first(name):
    first = next(iter(inspect.signature(getattr(yolo_transfer, name)).parameters))
    assert first == "model"


@pytest.mark.parametrize("method, function", [("train", "train"), ("compare", "compare"),
                                              ("recommend", "recommend"), ("export", "export"),
                                              ("predict", "predict")])
def test_transfer_model_methods_take_the_functions_arguments(method, function):
    """`TransferModel(m).x(...)` is `yolo_transfer.x(m, ...)`: the same parameters, defaults and kinds, minus the
    model, so the two faces cannot drift apart."""
    m = inspect.signature(getattr(yolo_transfer.TransferModel, method))
    f = inspect.signature(getattr(yolo_transfer, function))
    mp = [(p.name, p.default, p.kind) for p in m.parameters.values()][1:]  # minus self
    fp = [(p.name, p.default, p.kind) for p in f.parameters.values()][1:]  # minus model
    # `data` is required on the object for recommend/compare (the model is already there); the rest is identical
    norm = lambda ps: [(n, None if n == "data" else d, k if n != "data" else None) for n, d, k in ps]  # noqa: E731
    assert norm(mp) == norm(fp)
    assert (getattr(yolo_transfer.TransferModel, method).__doc__ or "").strip()


# The CLI and Python names differ only where a terminal needs its own switch; everything else is the same option.
CLI_ONLY = {"quiet_flag", "verbose", "extra", "as_json", "half", "int8", "fmt"}  # fmt: --format (a Python builtin)
PY_ONLY = {"callbacks", "echo", "show_progress", "overrides", "format"}
RENAMED = {"fmt": "format"}


def _click_params(cmd: click.Command) -> set[str]:
    return {p.name for p in cmd.params}


@pytest.mark.parametrize("command, function", [("train", "train"), ("compare", "compare"),
                                               ("recommend", "recommend"), ("export", "export"),
                                               ("predict", "predict")])
def test_cli_and_python_take_the_same_options(command, function):
    cli = {RENAMED.get(n, n) for n in _click_params(main.commands[command])}
    py = {n for n in inspect.signature(getattr(yolo_transfer, function)).parameters}
    missing_in_cli = py - cli - PY_ONLY - {"verbose"}
    missing_in_py = cli - py - CLI_ONLY - {"format"}
    assert not missing_in_cli, f"{function}() takes {sorted(missing_in_cli)}, `yolo-transfer {command}` does not"
    assert not missing_in_py, f"`yolo-transfer {command}` takes {sorted(missing_in_py)}, {function}() does not"


def test_model_option_keeps_the_weights_alias():
    for command in ("train", "compare", "recommend", "demo"):
        opt = next(p for p in main.commands[command].params if p.name == "model")
        assert "--model" in opt.opts and "--weights" in opt.opts and opt.default == "yolo26n.pt"


def test_import_is_light():
    """`import yolo_transfer` and `yolo-transfer --help` must not load torch (names resolve on first use)."""
    import subprocess
    import sys

    code = "import sys, yolo_transfer, yolo_transfer.cli; print('torch' in sys.modules, 'ultralytics' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_transfer_model_resolves_once_and_becomes_the_trained_model(synth_yaml, tmp_path):
    m = yolo_transfer.TransferModel("yolo11n.yaml")
    assert m.anatomy is m.inspect() and m.anatomy.indices("head") == [23]
    rows = {r.spec: r for r in m.presets()}
    assert rows["frozen-backbone"].frozen_at_start == "backbone" and rows["full"].frozen_at_start == "nothing"
    r = m.train(synth_yaml, epochs=1, imgsz=64, batch=8, device="cpu", workers=0, project=tmp_path, plots=False)
    assert r.ok and m.last_train is r and m.path == str(r.best) and r.map50_95 is not None
    e = m.export(imgsz=64, parity_images=synth_yaml.parent / "images" / "val", parity_conf=0.001, device="cpu")
    assert e.source == r.best.resolve() and e.passed
