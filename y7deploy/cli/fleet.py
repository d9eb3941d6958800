"""`y7deploy play`, `ping`, `facts`: thin commands over y7deploy.fleet.runner."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from y7deploy.errors import UserError


def _extra_vars(values: tuple[str, ...]) -> dict[str, Any]:
    """-e k=v, -e '{"json": 1}', -e @file.yml; later wins, as in Ansible."""
    import shlex

    import yaml

    merged: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                data = yaml.safe_load(path.read_text())
            except OSError as exc:
                raise UserError(f"-e {value}: cannot read {path}: {exc.strerror}") from None
            except yaml.YAMLError as exc:
                raise UserError(f"-e {value}: malformed YAML: {exc}") from None
            if not isinstance(data, dict):
                raise UserError(f"-e {value}: {path} must hold a mapping")
            merged.update(data)
        elif value.lstrip().startswith("{"):
            try:
                data = json.loads(value)
            except json.JSONDecodeError as exc:
                raise UserError(f"-e: bad JSON {value!r}: {exc}") from None
            merged.update(data)
        else:
            for word in shlex.split(value):
                if "=" not in word:
                    raise UserError(f"-e: {word!r} is not key=value")
                key, val = word.split("=", 1)
                merged[key] = val
    return merged


def _become_password(ask: bool) -> str | None:
    if ask:
        return click.prompt("BECOME password", hide_input=True, default="", show_default=False)
    return os.environ.get("Y7DEPLOY_BECOME_PASSWORD") or None


def _options(limit, check=False, diff=False, extra=(), tags=(), skip_tags=(), forks=10,
             ask_become_pass=False, accept_new_host_keys=False):
    from y7deploy.fleet.runner import RunOptions

    split = lambda items: {t.strip() for item in items for t in item.split(",") if t.strip()}  # noqa: E731
    return RunOptions(check=check, diff=diff, limit=limit, tags=split(tags), skip_tags=split(skip_tags),
                      forks=forks, extra_vars=_extra_vars(extra),
                      become_password=_become_password(ask_become_pass),
                      accept_new_host_keys=accept_new_host_keys)


def _inventory_option(f):
    return click.option("-i", "--inventory", "inventory_path", required=True,
                        help="Inventory file or directory (Ansible format).")(f)


def _limit_option(f):
    return click.option("-l", "--limit", default=None, help="Host pattern to restrict to.")(f)


def register(cli: click.Group) -> None:
    @cli.command("play")
    @click.argument("playbook", type=click.Path(dir_okay=False))
    @_inventory_option
    @_limit_option
    @click.option("-C", "--check", is_flag=True, help="Report what would change; change nothing.")
    @click.option("-D", "--diff", is_flag=True, help="Show the differences in changed files.")
    @click.option("-e", "--extra-vars", "extra", multiple=True, help="k=v, JSON, or @file.")
    @click.option("-t", "--tags", multiple=True, help="Run only tasks with these tags.")
    @click.option("--skip-tags", multiple=True, help="Skip tasks with these tags.")
    @click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 500))
    @click.option("--json", "json_output", is_flag=True, help="Print one JSON result instead.")
    @click.option("-K", "--ask-become-pass", is_flag=True, help="Ask for the sudo password.")
    @click.option("--accept-new-host-keys", is_flag=True, help="Record unknown host keys (accept-new).")
    def play(playbook, inventory_path, limit, check, diff, extra, tags, skip_tags, forks, json_output,
             ask_become_pass, accept_new_host_keys):
        """Run a playbook on the inventory's hosts (Ansible's playbook format)."""
        from y7deploy.fleet.inventory import load_inventory
        from y7deploy.fleet.playbook import load_playbook
        from y7deploy.fleet.report import make_reporter
        from y7deploy.fleet.runner import Runner, ssh_connector

        inventory = load_inventory(inventory_path)
        book = load_playbook(playbook)
        options = _options(limit, check, diff, extra, tags, skip_tags, forks, ask_become_pass,
                           accept_new_host_keys)
        runner = Runner(book, inventory, options, None, ssh_connector(inventory, options))
        runner.prepare()  # bad input stops here, before any connection
        hosts = list(dict.fromkeys(h for hs in runner.play_hosts for h in hs))
        runner.reporter = make_reporter(json_output=json_output, hosts=hosts)
        result = runner.run()
        sys.exit(result.exit_code)

    @cli.command("ping")
    @_inventory_option
    @_limit_option
    @click.option("--json", "json_output", is_flag=True)
    @click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 500))
    @click.option("--accept-new-host-keys", is_flag=True)
    def ping(inventory_path, limit, json_output, forks, accept_new_host_keys):
        """Connect to every host and run a no-op command."""
        from y7deploy.fleet.report import AdhocReporter

        collector = _Collector() if json_output else AdhocReporter()
        result = _adhoc(inventory_path, limit, "ping", forks, accept_new_host_keys, collector)
        if json_output:
            click.echo(json.dumps(collector.results, indent=2, sort_keys=True))
        sys.exit(result.exit_code)

    @cli.command("facts")
    @_inventory_option
    @_limit_option
    @click.option("--json", "json_output", is_flag=True)
    @click.option("-f", "--forks", default=10, show_default=True, type=click.IntRange(1, 500))
    @click.option("--accept-new-host-keys", is_flag=True)
    def facts(inventory_path, limit, json_output, forks, accept_new_host_keys):
        """Jetson facts of every host: L4T, JetPack, model, CUDA, TensorRT, DeepStream, disk, power."""
        collector = _Collector()
        result = _adhoc(inventory_path, limit, "facts", forks, accept_new_host_keys, collector)
        found = {host: r.get("ansible_facts", {}).get("jetson", r) for host, r in collector.results.items()}
        if json_output:
            click.echo(json.dumps(found, indent=2, sort_keys=True))
        else:
            _print_facts_table(found)
        sys.exit(result.exit_code)


def _adhoc(inventory_path: str, limit: str | None, module: str, forks: int, accept_new: bool,
           reporter: Any):
    from y7deploy.fleet.inventory import load_inventory
    from y7deploy.fleet.playbook import Play, Playbook, Task
    from y7deploy.fleet.runner import Runner, ssh_connector

    inventory = load_inventory(inventory_path)
    task = Task(module=module, args={}, file=f"<{module}>", line=0, name=module)
    play = Play(hosts="all", file=f"<{module}>", line=0, name=module, gather_facts=False, tasks=[task])
    book = Playbook(Path.cwd() / f"<{module}>", [play])
    options = _options(limit, forks=forks, accept_new_host_keys=accept_new)
    runner = Runner(book, inventory, options, reporter, ssh_connector(inventory, options))
    runner.prepare()
    return runner.run()


class _Collector:
    """Keeps each host's result (or why there is none) for a table or --json."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def play_start(self, name): pass
    def task_start(self, title, handler=False): pass
    def message(self, text): pass
    def recap(self, run): pass

    def host_result(self, host, status, result, *, ignored=False, diff=False, module=None) -> None:
        if status in ("ok", "changed"):
            self.results[host] = {k: v for k, v in result.items() if k != "changed"}
        else:
            self.results[host] = {"error": status, "msg": result.get("msg", "")}


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
