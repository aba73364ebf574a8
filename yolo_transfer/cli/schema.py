"""Click options generated from an options type (`yolo_transfer.options`): the CLI face of the one schema."""

from __future__ import annotations

from dataclasses import MISSING, Field, fields
from typing import Callable

import click

from yolo_transfer.options import cli_name
from yolo_transfer.weights import DEFAULT_MODEL


def _option(f: Field) -> Callable:
    m = f.metadata
    name = cli_name(f)
    default = None if f.default is MISSING else f.default
    kw: dict = dict(help=m["help"])
    if m["flag"] == "pair":
        decl = [f"{name}/--no-{name[2:]}"]
    elif isinstance(m["flag"], str):
        decl = [m["flag"]]
    elif m["flag"]:
        decl, kw["is_flag"] = [name], True
    else:
        decl = [name, *m["aliases"]]
        if m["choices"]:
            kw["type"] = click.Choice([str(c) for c in m["choices"]])
            if isinstance(m["choices"][0], int):  # click compares text: the value goes back to the field's int
                kw["callback"] = lambda ctx, p, v: None if v is None else int(v)
        elif m["path"]:
            kw["type"] = click.Path()
        elif m["type"] is not None:
            kw["type"] = click.IntRange(int(m["min"])) if m["min"] is not None else m["type"]
        if m["parse"] is not None:
            kw["callback"] = lambda ctx, p, v, parse=m["parse"]: parse(v)
        if isinstance(default, (tuple, list)):  # a list option's CLI text: 0,1 (parsed where the value is used)
            default = ",".join(str(v) for v in default)
        kw["metavar"] = m["metavar"]
    kw["show_default"] = default is not None and default is not False
    return click.option(*decl, f.name, default=default, **kw)


def click_options(options: type, skip: tuple[str, ...] = ()) -> Callable:
    """A decorator adding one click option per CLI field of `options`, in the field order."""

    def wrap(cmd: Callable) -> Callable:
        for f in reversed([f for f in fields(options) if f.metadata.get("cli") and f.name not in skip]):
            cmd = _option(f)(cmd)
        return cmd

    return wrap


def model_option(help: str = "Checkpoint path, Ultralytics name (yolo26n.pt, yolo11n.pt, yolov8s.pt) or "
                             "architecture YAML.") -> Callable:
    """`--model/--weights`, the same on every command that starts from a checkpoint."""
    return click.option("--model", "--weights", "model", default=DEFAULT_MODEL, show_default=True, help=help)


def console_options(verbose: bool = True) -> Callable:
    """`--quiet/--no-quiet` (and `--verbose`): what the terminal shows, a CLI-only concern."""

    def wrap(cmd: Callable) -> Callable:
        if verbose:
            cmd = click.option("--verbose", is_flag=True,
                               help="Ultralytics' own output on the terminal (overrides --quiet).")(cmd)
        return click.option("--quiet/--no-quiet", "quiet_flag", default=None,
                            help="A line per step or epoch; Ultralytics' log to a file in the output folder (default "
                                 "when stdout is not a terminal).")(cmd)

    return wrap
