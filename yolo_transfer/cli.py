"""`yolo-transfer`: a thin click face over the Python API; each command calls one library function."""

from __future__ import annotations

import sys

import click

from yolo_transfer.errors import UserError


class _Group(click.Group):
    """Turns `UserError` into one `Error: ...` line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.secho(f"Error: {e}", fg="red", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="yolo-transfer")
def main() -> None:
    """Adapt COCO-pretrained YOLO detectors to your data: train with a verified transfer strategy, export with a
    parity gate, and run fast, resumable batch inference."""


def _register() -> None:
    from yolo_transfer.commands import COMMANDS

    for cmd in COMMANDS:
        main.add_command(cmd)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
