"""`y7deploy lab ...`: bring the simulated Jetson fleet up and down, break it on purpose."""

from __future__ import annotations

import json
import sys

import click

from y7deploy.lab import FAULTS, PROFILES, Lab

name_option = click.option(
    "--name", envvar="Y7DEPLOY_LAB", default="y7lab", show_default=True,
    help="Lab instance name (env Y7DEPLOY_LAB); several labs can run side by side.")


def register(cli: click.Group) -> None:
    cli.add_command(lab)


@click.group()
def lab() -> None:
    """A simulated Jetson fleet on this machine (root, systemd-nspawn)."""


@lab.command()
@name_option
@click.option("--hosts", type=int, default=None, help="Number of hosts [default: 3, or one per --profile].")
@click.option("--profile", "profiles", multiple=True, type=click.Choice(list(PROFILES)),
              help="JetPack profile; repeat to mix; hosts cycle through them [default: all of them].")
@click.option("--inventory-out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the Ansible YAML inventory [default: in the lab's state dir].")
@click.option("--sudo-password", default=None, help="Make sudo on the hosts ask for this password.")
def up(name: str, hosts: int | None, profiles: tuple[str, ...], inventory_out: str | None,
       sudo_password: str | None) -> None:
    """Boot the lab (clearing what an earlier run of the same name left behind)."""
    lab_ = Lab(name)
    try:
        lab_.up(hosts=hosts, profiles=list(profiles), sudo_password=sudo_password,
                inventory_out=inventory_out, log=lambda msg: click.echo(msg, err=True))
    except RuntimeError as exc:  # a host did not boot: the machine's fault, not the input's
        click.echo(f"error: lab up failed (everything it made was removed): {exc}", err=True)
        sys.exit(1)
    _print_status(lab_.status())
    click.echo(f"inventory: {lab_.inventory_path}")


@lab.command()
@name_option
def down(name: str) -> None:
    """Remove every container, mount, veth and the bridge of the lab."""
    Lab(name).down(log=lambda msg: click.echo(msg, err=True))


@lab.command()
@name_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(name: str, as_json: bool) -> None:
    """Each host: address, profile, systemd state, whether sshd answers."""
    rows = Lab(name).status()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_status(rows)


@lab.command()
@name_option
@click.argument("host")
@click.argument("kind", type=click.Choice(FAULTS))
def fault(name: str, host: str, kind: str) -> None:
    """Break HOST on purpose (or `clear` every fault on it). power-cut stops the host at
    once without a shutdown; power-on boots it; camera-down stops HOST's lab camera."""
    Lab(name).fault(host, kind)
    click.echo(f"{host}: {kind}")


def _print_status(rows: list[dict]) -> None:
    if not rows:
        click.echo("no hosts (is the lab up?)")
        return
    head = ("HOST", "ADDRESS", "PROFILE", "STATE", "SSH", "FAULTS")
    table = [head] + [(r["host"], r["address"], r["profile"], r["state"], r["ssh"],
                       ",".join(r["faults"]) or "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
