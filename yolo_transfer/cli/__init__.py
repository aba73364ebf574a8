"""`yolo-transfer`: a thin click face over the Python API; each command calls one library function."""

from __future__ import annotations

import sys

import click

from yolo_transfer.errors import RERUN, Interrupted, UserError, from_os_error


class _Group(click.Group):
    """Turns `UserError`, and an OSError of a read-only, foreign or full disk, into one `Error: ...` line and a
    non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.secho(f"Error: {e}", fg="red", err=True)
            ctx.exit(e.exit_code)
        except OSError as e:
            err = from_os_error(e)
            if err is None:
                raise
            click.secho(f"Error: {err}", fg="red", err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt as e:  # what each command leaves is whole (atomic writes, ledgers, records)
            click.echo(f"\nInterrupted; {Interrupted.at(e).how_to_go_on()}" if isinstance(e, Interrupted) else
                       f"Interrupted; {RERUN}", err=True)
            ctx.exit(Interrupted.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="yolo-transfer")
def main() -> None:
    """Adapt COCO-pretrained YOLO detectors to your data: train with a verified transfer strategy, export with a
    parity gate, and run fast, resumable batch inference."""


def _register() -> None:
    # each command module imports only click at the top: `yolo-transfer --help` does not load torch
    from yolo_transfer.cli.compare import compare_cmd
    from yolo_transfer.cli.data import data
    from yolo_transfer.cli.demo import demo_cmd
    from yolo_transfer.cli.export import benchmark_cmd, export_cmd
    from yolo_transfer.cli.predict import predict_cmd
    from yolo_transfer.cli.recommend import recommend_cmd
    from yolo_transfer.cli.train import inspect_cmd, presets_cmd, train_cmd

    for cmd in (train_cmd, compare_cmd, recommend_cmd, inspect_cmd, presets_cmd, demo_cmd, data, export_cmd,
                benchmark_cmd, predict_cmd):
        main.add_command(cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
