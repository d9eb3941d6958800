"""The `y7deploy` command: thin click commands over the library rooms.

Each submodule registers the commands of one room; none holds logic of its own.
This package is also the only place that knows about the lab.
"""

from __future__ import annotations

import sys

import click

from y7deploy import __version__
from y7deploy.errors import EXIT_BAD_INPUT, UserError


class Y7Group(click.Group):
    """Turns a UserError anywhere below into one line on stderr and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)


@click.group(cls=Y7Group)
@click.version_option(__version__, prog_name="y7deploy")
def cli() -> None:
    """From CVAT labels to a fleet of Jetsons running DeepStream."""


def _register() -> None:
    """Attach every room's commands. Kept in one place so the whole CLI reads top-down."""
    from y7deploy.cli import data, demo, fleet, inventory, lab, model, train

    for room in (lab, inventory, fleet, data, train, model, demo):
        room.register(cli)


_register()


def main() -> None:
    cli(prog_name="y7deploy")
