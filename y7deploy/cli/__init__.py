"""The `y7deploy` command: thin click commands over the library rooms.

Each submodule registers the commands of one room; none holds logic of its own.
This package is also the only place that knows about the lab.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from y7deploy import __version__
from y7deploy.errors import EXIT_BAD_INPUT, UserError


# click >= 8.2 signals "a group called with nothing" as a usage error that shows the help.
_HELP_ASKED = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Y7Group(click.Group):
    """Turns bad input anywhere below into one line on stderr and exit 2, never a traceback.

    Bad input is a UserError from a room, or a usage error from click (an unknown command
    or option, a value out of range), which click would otherwise print as four lines.
    """

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _usage_error(exc)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)


def _usage_error(exc: click.UsageError) -> NoReturn:
    if isinstance(exc, _HELP_ASKED):  # a bare group: its help is the answer, as click shows it
        raise exc
    command = exc.ctx.command_path if exc.ctx else "y7deploy"
    hint = f" (see '{command} --help')" if exc.ctx else ""
    click.echo(f"error: {command}: {exc.format_message()}{hint}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(cls=Y7Group)
@click.version_option(__version__, prog_name="y7deploy")
def cli() -> None:
    """From CVAT labels to a fleet of Jetsons running DeepStream."""


def _register() -> None:
    """Attach every room's commands. Kept in one place so the whole CLI reads top-down."""
    from y7deploy.cli import data, demo, fleet, inventory, lab, model, train

    from y7deploy.cli import deploy
    for room in (lab, inventory, fleet, data, train, model, demo, deploy):
        room.register(cli)


_register()


def main() -> None:
    cli(prog_name="y7deploy")
