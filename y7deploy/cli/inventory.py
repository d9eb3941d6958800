"""`y7deploy inventory`: show an inventory the way `ansible-inventory` does."""

from __future__ import annotations

import json

import click

from y7deploy.cli import options


def register(cli: click.Group) -> None:
    cli.add_command(inventory_cmd)


@click.command("inventory")
@options.inventory
@click.option("--list", "as_list", is_flag=True, help="All groups and host vars as JSON (ansible-inventory --list).")
@click.option("--graph", "graph", is_flag=True, help="The group tree.")
@click.option("--host", "host", default=None, help="One host's variables as JSON.")
@click.option("--vars", "show_vars", is_flag=True, help="With --graph: show variables too.")
@options.limit
@click.argument("group", required=False, default="all")
def inventory_cmd(inventory: tuple[str, ...], as_list: bool, graph: bool, host: str | None, show_vars: bool,
                  limit: str | None, group: str) -> None:
    """Print the inventory as JSON (--list), one host's vars (--host) or a tree (--graph [GROUP])."""
    from y7deploy.errors import UserError
    from y7deploy.fleet.patterns import select_hosts

    if sum(bool(x) for x in (as_list, graph, host)) != 1:
        raise UserError("inventory: give exactly one of --list, --graph or --host HOST")
    inv = options.load(inventory)
    if host:
        hosts = select_hosts(inv, host)
        if len(hosts) != 1:
            raise UserError(f"--host {host!r} matches {len(hosts)} hosts; give exactly one")
        click.echo(json.dumps(inv.host_json(hosts[0]), sort_keys=True, indent=4, default=str))
    elif graph:
        click.echo(inv.graph(group, show_vars=show_vars))
    elif not limit:
        click.echo(inv.to_json())
    else:
        data = _limited(inv.to_list_json(), set(select_hosts(inv, limit)))
        click.echo(json.dumps(data, sort_keys=True, indent=4, default=str))


def _limited(data: dict, keep: set[str]) -> dict:
    """--list restricted to some hosts: groups keep only those hosts, empty groups vanish."""
    out = {}
    for name, entry in data.items():
        if name == "_meta":
            out[name] = {**entry, "hostvars": {h: v for h, v in entry["hostvars"].items() if h in keep}}
            continue
        entry = dict(entry)
        if "hosts" in entry:
            entry["hosts"] = [h for h in entry["hosts"] if h in keep]
            if not entry["hosts"]:
                del entry["hosts"]
        if entry:
            out[name] = entry
    return out
