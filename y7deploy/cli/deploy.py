"""`y7deploy provision | push | rollback | status | logs | app | history`: options -> one
function of y7deploy.deploy -> exit code."""

from __future__ import annotations

import json
import sys

import click

from y7deploy.cli import options


def _request(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, **kw):
    from y7deploy.deploy.rollout import Request

    run = options.run_options(limit=limit, forks=forks, extra_vars=extra_vars, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    return Request(inventory=list(inventory), limit=limit, run=run, **kw)


def _view(json_output: bool):
    from y7deploy.deploy.view import make_view

    return make_view(json_output=json_output, hosts=[])


def _finish(report, json_output: bool) -> None:
    from y7deploy.deploy.summary import summary_lines

    if json_output:
        click.echo(report.to_json())
    else:
        for line in summary_lines(report):
            click.echo(line, err=line.startswith("error:"))
    sys.exit(report.exit_code)


def _rows(rows: dict, json_output: bool, show) -> None:
    """Per-host rows as JSON or shown; exit 3 when a host could not be read."""
    if json_output:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    else:
        show(rows)
    sys.exit(3 if any(r.get("error") for r in rows.values()) else 0)


def _changing(f):
    """The options of a command that changes hosts: -i, -l, connection, -e, --check, --diff, --json."""
    for option in (options.json_output, options.diff, options.check, options.extra_vars, options.connection,
                   options.limit, options.inventory):
        f = option(f)
    return f


def _ledger_option(f):
    return click.option("--ledger", default=None,
                        help="Ledger file (SQLite); default $Y7DEPLOY_LEDGER or beside the inventory.")(f)


def _rollout_options(f):
    f = click.option("--serial", default="1,25%,100%", show_default=True,
                     help="Wave sizes after the canaries, Ansible's serial.")(f)
    f = click.option("--max-fail-percentage", default=0.0, show_default=True, type=float,
                     help="Stop when a wave's failures exceed this share.")(f)
    f = click.option("--lock-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
                     help="Seconds to wait for another push's lock before reporting the host busy.")(f)
    return f


@click.command("push")
@click.argument("release")
@_changing
@_rollout_options
@_ledger_option
@click.option("--releases", "releases_dir", default="releases", show_default=True,
              help="Where release ids are looked up.")
@click.option("--precision", type=click.Choice(["fp16", "fp32", "int8"]), default=None,
              help="Engine precision (default: the hosts' y7_precision, else the release's).")
@click.option("--on-abort", type=click.Choice(["revert", "stop"]), default="revert", show_default=True,
              help="When the failure threshold stops the rollout: put back the hosts this run switched, or leave them.")
def push_cmd(release, inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, check, diff,
             json_output, serial, max_fail_percentage, lock_timeout, ledger, releases_dir, precision, on_abort):
    """Push a release to the fleet: plan, then per wave stage, switch, verify, commit or revert."""
    from y7deploy.deploy.push import push

    req = _request(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, serial=serial,
                   max_fail_percentage=max_fail_percentage, on_abort=on_abort, check=check, diff=diff,
                   lock_timeout=lock_timeout, ledger=ledger)
    view = _view(json_output)
    try:
        report = push(req, release, releases_dir, precision, view)
    finally:
        view.close()
    _finish(report, json_output)


@click.command("rollback")
@options.inventory
@options.limit
@options.connection
@options.extra_vars
@options.check
@options.json_output
@_ledger_option
@click.option("--to", "to", default=None, help="A release kept on the hosts (default: each host's previous).")
@click.option("--serial", default=None, help="Waves (default: all hosts at once).")
@click.option("--max-fail-percentage", default=0.0, show_default=True, type=float)
@click.option("--lock-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0))
def rollback_cmd(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, check, json_output,
                 ledger, to, serial, max_fail_percentage, lock_timeout):
    """Return hosts to their previous (or a kept) release: no engine build, the same gate."""
    from y7deploy.deploy.rollback import rollback

    req = _request(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, serial=serial,
                   max_fail_percentage=max_fail_percentage, check=check, lock_timeout=lock_timeout, ledger=ledger)
    view = _view(json_output)
    try:
        report = rollback(req, to, view)
    finally:
        view.close()
    _finish(report, json_output)


@click.command("history")
@click.option("-i", "--inventory", "inventory", multiple=True, help="Inventory (the ledger sits beside it).")
@_ledger_option
@click.option("--host", default=None, help="Only this host.")
@options.json_output
def history_cmd(inventory, ledger, host, json_output):
    """Every push and rollback, per host, from the ledger."""
    from y7deploy.deploy.status import history_rows
    from y7deploy.deploy.summary import history_lines

    rows = history_rows(ledger, inventory[0] if inventory else None, host)
    if json_output:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    else:
        for line in history_lines(rows):
            click.echo(line)
        if not rows:
            click.echo("no push or rollback recorded" + (f" for {host}" if host else "") + f" in {ledger or 'the ledger'}")


@click.command("status")
@options.inventory
@options.limit
@options.connection
@options.json_output
@_ledger_option
def status_cmd(inventory, limit, forks, ask_become_pass, accept_new_host_keys, json_output, ledger):
    """Each host as its device tells it: release, state, unit, FPS, engine; drift from the ledger."""
    from y7deploy.deploy.status import status
    from y7deploy.deploy.summary import status_table

    run = options.run_options(limit=limit, forks=forks, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    _rows(status(list(inventory), run, ledger), json_output, status_table)


@click.command("logs")
@click.argument("host")
@options.inventory
@options.ask_become_pass
@options.accept_new_host_keys
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=50, show_default=True, type=click.IntRange(0, 100000))
def logs_cmd(host, inventory, ask_become_pass, accept_new_host_keys, follow, lines):
    """The app's journal on HOST (one host: no --forks, and -f is journalctl's follow)."""
    from y7deploy.deploy.status import logs

    run = options.run_options(limit=host, forks=1, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    sys.exit(logs(list(inventory), run, host, lines, follow, sys.stdout))


@click.command("app")
@click.argument("action", type=click.Choice(["start", "stop", "restart", "status"]))
@options.inventory
@options.limit
@options.connection
@options.json_output
def app_cmd(action, inventory, limit, forks, ask_become_pass, accept_new_host_keys, json_output):
    """Start, stop, restart the app, or show its unit's state, on every host."""
    from y7deploy.deploy.status import app

    run = options.run_options(limit=limit, forks=forks, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys)
    _rows(app(list(inventory), run, action), json_output,
          lambda rows: [click.echo(f"{h}: {r.get('error') or r.get('state')}") for h, r in rows.items()])


@click.command("provision")
@_changing
def provision_cmd(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, check, diff,
                  json_output):
    """Prepare Jetsons: supported JetPack/DeepStream, /opt/y7deploy, the parser, the app and guard units."""
    from y7deploy.deploy.provision import provision

    run = options.run_options(limit=limit, forks=forks, extra_vars=extra_vars, ask_become_pass=ask_become_pass,
                              accept_new_host_keys=accept_new_host_keys, check=check, diff=diff)
    sys.exit(provision(list(inventory), run, json_output=json_output))


def register(cli: click.Group) -> None:
    for command in (push_cmd, rollback_cmd, history_cmd, status_cmd, logs_cmd, app_cmd, provision_cmd):
        cli.add_command(command)
