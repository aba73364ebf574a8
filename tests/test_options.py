"""One options schema per verb: the CLI's options, the functions' keywords and `TransferModel`'s methods are read
off the type here, so a default that differs between the faces, or an option one face lacks, fails."""

from __future__ import annotations

import dataclasses
import inspect

import click
import pytest
from click.testing import CliRunner

import yolo_transfer
from yolo_transfer.cli import main
from yolo_transfer.cli.schema import click_options
from yolo_transfer.errors import Interrupted
from yolo_transfer.options import (CompareOptions, ExportOptions, Options, PredictOptions, TrainOptions, opt,
                                   takes)
from yolo_transfer.presets import parse_preset

VERBS = [("train", TrainOptions), ("compare", CompareOptions), ("export", ExportOptions),
         ("predict", PredictOptions)]


def _cli_default(f: dataclasses.Field):
    """What the CLI's default must be for the field's: list defaults as their comma text, int choices as text."""
    d = f.default
    if isinstance(d, (tuple, list)):
        return ",".join(str(v) for v in d)
    return d


@pytest.mark.parametrize("command, options", VERBS)
def test_cli_options_are_the_fields_with_their_defaults(command, options):
    params = {p.name: p for p in main.commands[command].params}
    for f in options.cli_fields():
        assert f.name in params, f"`yolo-transfer {command}` lacks --{f.name.replace('_', '-')}"
        got = params[f.name].default
        want = _cli_default(f)
        assert (str(got) if f.metadata["choices"] and got is not None else got) == \
            (str(want) if f.metadata["choices"] and want is not None else want), f"{command} --{f.name}"
        if f.metadata["choices"]:
            assert list(params[f.name].type.choices) == [str(c) for c in f.metadata["choices"]]


@pytest.mark.parametrize("command, options", VERBS)
def test_python_and_transfer_model_take_the_fields_with_their_defaults(command, options):
    for fn in (getattr(yolo_transfer, command), getattr(yolo_transfer.TransferModel, command)):
        params = inspect.signature(fn).parameters
        for f in dataclasses.fields(options):
            assert f.name in params, f"{fn.__qualname__} lacks {f.name}"
            assert params[f.name].default == f.default, f"{fn.__qualname__}({f.name}=...)"
            assert f.name in fn.__doc__, f"{fn.__qualname__}'s docstring does not document {f.name}"


def test_unknown_keywords_are_a_type_error_where_nothing_passes_through():
    with pytest.raises(TypeError, match="colour"):
        yolo_transfer.export("x.pt", colour="red")
    with pytest.raises(TypeError, match="colour"):
        yolo_transfer.predict("x.pt", "images", "out", colour="red")


def test_a_new_field_is_an_option_on_every_face():
    """The claim a maintainer relies on: one field, and the CLI and the Python signature both have it."""

    @dataclasses.dataclass(frozen=True)
    class More(Options):
        epochs: int = opt(5, "Epochs.", type=int, min=1)
        mosaic_off: bool = opt(False, "No mosaic.", flag=True)

    seen = {}

    @click.command()
    @click_options(More)
    def cmd(**kw):
        seen.update(kw)

    @takes(More)
    def fn(model: str, **kw) -> dict:
        """A function."""
        return More.split(kw)[0].to_dict()

    r = CliRunner().invoke(cmd, ["--mosaic-off", "--epochs", "3"])
    assert r.exit_code == 0, r.output
    assert seen == {"epochs": 3, "mosaic_off": True}
    assert fn("m", mosaic_off=True) == {"epochs": 5, "mosaic_off": True}
    assert list(inspect.signature(fn).parameters) == ["model", "epochs", "mosaic_off"]
    assert "mosaic_off: No mosaic." in fn.__doc__


def test_export_format_stays_positional():
    assert list(inspect.signature(yolo_transfer.export).parameters)[:2] == ["model", "format"]
    assert inspect.signature(yolo_transfer.export).parameters["format"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.parametrize("text, base, name, arg, keep, auto, cands", [
    ("full", "full", "full", "", None, False, ()),
    ("freeze:10", "freeze:10", "freeze", "10", None, False, ()),
    ("full+keep-distill", "full", "full", "", "distill", False, ()),
    ("progressive:neck=0.2+keep-exact", "progressive:neck=0.2", "progressive", "neck=0.2", "exact", False, ()),
    ("auto", "auto", "auto", "", None, True, ()),
    ("auto:full, head-only", "auto:full, head-only", "auto", "full, head-only", None, True, ("full", "head-only")),
])
def test_the_preset_grammar_has_one_reader(text, base, name, arg, keep, auto, cands):
    p = parse_preset(text)
    assert (p.base, p.name, p.arg, p.keep, p.auto, p.candidates) == (base, name, arg, keep, auto, cands)


def test_interrupted_says_how_to_go_on():
    assert Interrupted(run_dir="runs/a").how_to_go_on() == "continue with: yolo-transfer train --resume runs/a"
    # an auto run goes on from its own folder, not its probe's
    e = Interrupted.at(Interrupted(run_dir="runs/auto/probe"), auto_dir="runs/auto")
    assert e.how_to_go_on().endswith("--resume runs/auto")
    plain = Interrupted.at(KeyboardInterrupt(), hint="rerun the same command")
    assert isinstance(plain, KeyboardInterrupt) and plain.how_to_go_on() == "rerun the same command"
