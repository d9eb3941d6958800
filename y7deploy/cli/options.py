"""The click options every fleet command shares, spelled as ansible-playbook spells them.

A command stacks the decorators it needs and turns what they parsed into RunOptions with
`run_options(...)`:

    @click.command()
    @options.inventory
    @options.limit
    @options.connection      # -f/--forks, -K/--ask-become-pass, --accept-new-host-keys
    @options.extra_vars
    @options.json_output
    def push(inventory, limit, forks, ask_become_pass, accept_new_host_keys, extra_vars, json_output):
        run = options.run_options(limit=limit, forks=forks, extra_vars=extra_vars,
                                  ask_become_pass=ask_become_pass,
                                  accept_new_host_keys=accept_new_host_keys)
        inv = options.load(inventory)

The parameter names are the ones shown above; `-i` may be given several times, as in Ansible.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from y7deploy.errors import UserError

if TYPE_CHECKING:
    from y7deploy.fleet.inventory import Inventory
    from y7deploy.fleet.runner import RunOptions

F = TypeVar("F", bound=Callable[..., Any])

BECOME_PASSWORD_ENV = "Y7DEPLOY_BECOME_PASSWORD"


def inventory(f: F) -> F:
    """-i/--inventory (required, repeatable) -> parameter `inventory`: tuple of paths."""
    return click.option("-i", "--inventory", "inventory", required=True, multiple=True,
                        help="Inventory file, directory or host,list, (Ansible's formats); repeatable.")(f)


def limit(f: F) -> F:
    """-l/--limit -> parameter `limit`."""
    return click.option("-l", "--limit", "limit", default=None,
                        help="Host pattern to restrict to (Ansible's: a,b  a:!b  a:&b  glob  ~regex).")(f)


def forks(f: F) -> F:
    """-f/--forks -> parameter `forks`."""
    return click.option("-f", "--forks", "forks", default=10, show_default=True, type=click.IntRange(1, 500),
                        help="At most this many hosts at once.")(f)


def ask_become_pass(f: F) -> F:
    """-K/--ask-become-pass -> parameter `ask_become_pass`."""
    return click.option("-K", "--ask-become-pass", "ask_become_pass", is_flag=True,
                        help=f"Ask for the sudo password (or set {BECOME_PASSWORD_ENV}).")(f)


def accept_new_host_keys(f: F) -> F:
    """--accept-new-host-keys -> parameter `accept_new_host_keys`."""
    return click.option("--accept-new-host-keys", "accept_new_host_keys", is_flag=True,
                        help="Record an unknown host's key (OpenSSH's accept-new); a changed key is still refused.")(f)


def connection(f: F) -> F:
    """-f/--forks, -K/--ask-become-pass and --accept-new-host-keys together."""
    return forks(ask_become_pass(accept_new_host_keys(f)))


def extra_vars(f: F) -> F:
    """-e/--extra-vars (repeatable) -> parameter `extra_vars`: tuple of strings."""
    return click.option("-e", "--extra-vars", "extra_vars", multiple=True,
                        help="k=v, JSON, or @file.yml; repeatable, later wins.")(f)


def check(f: F) -> F:
    """-C/--check -> parameter `check`."""
    return click.option("-C", "--check", "check", is_flag=True, help="Report what would change; change nothing.")(f)


def diff(f: F) -> F:
    """-D/--diff -> parameter `diff`."""
    return click.option("-D", "--diff", "diff", is_flag=True, help="Show the differences in changed files.")(f)


def tags(f: F) -> F:
    """-t/--tags and --skip-tags -> parameters `tags`, `skip_tags`."""
    f = click.option("--skip-tags", "skip_tags", multiple=True, help="Skip tasks with these tags.")(f)
    return click.option("-t", "--tags", "tags", multiple=True, help="Run only tasks with these tags.")(f)


def json_output(f: F) -> F:
    """--json -> parameter `json_output`."""
    return click.option("--json", "json_output", is_flag=True, help="Print one JSON document instead.")(f)


def verbose(f: F) -> F:
    """-v: y7deploy's debug log on stderr; -vv: paramiko's too (its handshake errors and tracebacks).
    Without it a failed host is one line of the run's own output; the reason is in --json."""
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_log_to_stderr,
                        help="Debug log on stderr (-vv adds paramiko's).")(f)


def _log_to_stderr(ctx: click.Context, param: click.Parameter, level: int) -> None:
    import logging

    if not level:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("y7deploy", "paramiko") if level > 1 else ("y7deploy",):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)


def load(paths: tuple[str, ...] | list[str] | str) -> "Inventory":
    """The inventory named by -i (UserError naming the file and line on bad input)."""
    from y7deploy.fleet.inventory import load_inventory

    return load_inventory(list(paths) if not isinstance(paths, str) else paths)


def run_options(*, limit: str | None = None, forks: int = 10, extra_vars: tuple[str, ...] = (),
                ask_become_pass: bool = False, accept_new_host_keys: bool = False, check: bool = False,
                diff: bool = False, tags: tuple[str, ...] = (), skip_tags: tuple[str, ...] = ()) -> "RunOptions":
    """RunOptions from the parsed options; -K prompts here (before any host is touched)."""
    from y7deploy.fleet.runner import RunOptions

    return RunOptions(check=check, diff=diff, limit=limit, tags=_split(tags), skip_tags=_split(skip_tags),
                      forks=forks, extra_vars=parse_extra_vars(extra_vars),
                      become_password=become_password(ask_become_pass),
                      accept_new_host_keys=accept_new_host_keys)


def become_password(ask: bool) -> str | None:
    """-K asks on the terminal (never echoed); else Y7DEPLOY_BECOME_PASSWORD; else none."""
    if ask:
        return click.prompt("BECOME password", hide_input=True, default="", show_default=False)
    return os.environ.get(BECOME_PASSWORD_ENV) or None


def parse_extra_vars(values: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """-e k=v, -e '{"json": 1}', -e @file.yml; later wins, as in Ansible."""
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
            if not isinstance(data, dict):
                raise UserError(f"-e: {value!r} must be a JSON object")
            merged.update(data)
        else:
            try:
                words = shlex.split(value)
            except ValueError as exc:
                raise UserError(f"-e: {value!r}: {exc}") from None
            for word in words:
                if "=" not in word:
                    raise UserError(f"-e: {word!r} is not key=value")
                key, val = word.split("=", 1)
                merged[key] = val
    return merged


def _split(items: tuple[str, ...]) -> set[str]:
    return {t.strip() for item in items for t in item.split(",") if t.strip()}
