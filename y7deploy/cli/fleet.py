"""`y7deploy play`, `ping`, `facts`: thin commands over y7deploy.fleet."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from y7deploy.cli import options


def register(cli: click.Group) -> None:
    for command in (play, ping, facts):
        cli.add_command(command)


@click.command("play")
@click.argument("playbook", type=click.Path(dir_okay=False))
@options.inventory
@options.limit
@options.check
@options.diff
@options.extra_vars
@options.tags
@options.connection
@options.json_output
@options.verbose
def play(playbook: str, inventory: tuple[str, ...], limit: str | None, check: bool, diff: bool,
         extra_vars: tuple[str, ...], tags: tuple[str, ...], skip_tags: tuple[str, ...], forks: int,
         ask_become_pass: bool, accept_new_host_keys: bool, json_output: bool) -> None:
    """Run a playbook on the inventory's hosts (Ansible's playbook format)."""
    from y7deploy.fleet.report import make_reporter
    from y7deploy.fleet.runner import run_playbook

    run = options.run_options(limit=limit, forks=forks, extra_vars=extra_vars, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys, check=check, diff=diff, tags=tags,
                              skip_tags=skip_tags)
    result = run_playbook(playbook, options.load(inventory), run, make_reporter(json_output=json_output))
    sys.exit(result.exit_code)


@click.command("ping")
@options.inventory
@options.limit
@options.connection
@options.json_output
@options.verbose
def ping(inventory: tuple[str, ...], limit: str | None, forks: int, ask_become_pass: bool,
         accept_new_host_keys: bool, json_output: bool) -> None:
    """Connect to every host and run a no-op command."""
    from y7deploy.fleet.adhoc import run_adhoc
    from y7deploy.fleet.report import AdhocReporter, Collector

    run = options.run_options(limit=limit, forks=forks, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    collector = Collector()
    result = run_adhoc(options.load(inventory), "ping", run, collector if json_output else AdhocReporter())
    if json_output:
        click.echo(json.dumps(collector.results, indent=2, sort_keys=True))
    sys.exit(result.exit_code)


@click.command("facts")
@options.inventory
@options.limit
@options.connection
@options.json_output
@options.verbose
def facts(inventory: tuple[str, ...], limit: str | None, forks: int, ask_become_pass: bool,
          accept_new_host_keys: bool, json_output: bool) -> None:
    """Jetson facts of every host: L4T, JetPack, model, CUDA, TensorRT, DeepStream, disk, power."""
    from y7deploy.fleet.adhoc import run_adhoc
    from y7deploy.fleet.report import Collector

    run = options.run_options(limit=limit, forks=forks, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    collector = Collector()
    result = run_adhoc(options.load(inventory), "facts", run, collector)
    found = {host: r.get("ansible_facts", {}).get("jetson", r) for host, r in collector.results.items()}
    if json_output:
        click.echo(json.dumps(found, indent=2, sort_keys=True))
    else:
        _print_facts_table(found)
    sys.exit(result.exit_code)


def _print_facts_table(facts: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=None)
    cols = [("host", None), ("model", "model"), ("L4T", "l4t"), ("JetPack", "jetpack"),
            ("SoC", "soc"), ("CC", "compute_capability"), ("CUDA", "cuda"), ("TensorRT", "tensorrt"),
            ("DeepStream", "deepstream"), ("/opt free MB", "disk_free_opt_mb"),
            ("mem MB", "mem_total_mb"), ("power", "power_mode")]
    for title, _ in cols:
        table.add_column(title, overflow="fold")
    for host in sorted(facts):
        f = facts[host]
        if "error" in f:
            table.add_row(host, f"[red]{f['error']}[/]: {f.get('msg', '')}", *[""] * (len(cols) - 2))
            continue
        table.add_row(host, *[str(f.get(key, "")) for _, key in cols[1:]])
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
