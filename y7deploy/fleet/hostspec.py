"""How to reach one host: its address, user, keys and jump hosts, from inventory vars and ~/.ssh/config.

Precedence is OpenSSH's as Ansible drives it: what the inventory says (ansible_*
vars, then `-o` options in ansible_ssh_common_args/extra_args) beats
~/.ssh/config, which beats the defaults. ~/.ssh/config is looked up by the
name ssh would be given: ansible_host if set, else the inventory name, so
`Host` aliases, HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand,
UserKnownHostsFile, StrictHostKeyChecking, HostKeyAlias and ConnectTimeout all apply.
Only ssh connections and sudo as the become method are supported; anything else
in the inventory is bad input, not silently ignored.

    host_spec(name, hostvars, ssh_config=None) -> HostSpec
    inventory_specs(inventory, hosts=None, ssh_config=None) -> {name: HostSpec}

Secrets (passwords) are kept out of repr() and never put into messages.
"""

from __future__ import annotations

import getpass
import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import paramiko

from y7deploy.errors import UserError

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEEPALIVE = 15.0
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


@dataclass(frozen=True)
class HostSpec:
    """Everything needed to open one SSH connection. Immutable; make variants with dataclasses.replace."""

    name: str  # the inventory name, used in messages
    host: str  # address or DNS name to connect to
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    key_files: tuple[str, ...] = ()
    password: str | None = field(default=None, repr=False)
    become_password: str | None = field(default=None, repr=False)
    become_user: str = "root"
    known_hosts_files: tuple[str, ...] = (DEFAULT_KNOWN_HOSTS,)
    record_known_hosts_to: str = DEFAULT_KNOWN_HOSTS
    strict_host_key_checking: str = "yes"  # "yes" or "accept-new" ("no" maps to accept-new)
    host_key_alias: str | None = None  # HostKeyAlias: the known_hosts name to use instead of host
    jump: tuple["HostSpec", ...] = ()  # ProxyJump hops, outermost first
    proxy_command: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive: float = DEFAULT_KEEPALIVE
    look_for_default_keys: bool = True

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port} ({self.name})"


def load_ssh_config(path: str | os.PathLike | None = None) -> paramiko.SSHConfig:
    """~/.ssh/config (or the given file); an absent file is an empty config."""
    target = Path(os.path.expanduser(str(path or "~/.ssh/config")))
    if not target.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(target))
    except Exception as exc:  # paramiko raises various errors on a bad config
        raise UserError(f"{target}: cannot parse ssh config: {exc}") from None


def parse_ssh_args(text: str, where: str = "ansible_ssh_common_args") -> dict[str, str]:
    """`-o Key=Value`, `-oKey=Value`, `-o 'Key Value'`, `-J`, `-i`, `-p`, `-l`, `-F` -> {lowercase key: value}."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UserError(f"{where}: cannot parse {exc}") from None
    flags = {"-J": "proxyjump", "-i": "identityfile", "-p": "port", "-l": "user", "-F": "configfile"}
    options: dict[str, str] = {}
    it = iter(tokens)
    for token in it:
        if token.startswith("-o"):
            option = token[2:] or next(it, "")
            key, sep, value = option.partition("=")
            if not sep:
                key, _, value = option.strip().partition(" ")
        elif token[:2] in flags:
            key, value = flags[token[:2]], token[2:] or next(it, "")
        else:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "identityfile" and key in options:
            options[key] += "\n" + value  # every identity is tried, as ssh does
        elif key not in options:  # like ssh: the first value given wins
            options[key] = value
    return options


def _as_bool_setting(value: Any) -> str:
    """StrictHostKeyChecking / host_key_checking values -> "yes" or "accept-new"."""
    text = str(value).strip().lower()
    if text == "accept-new" or not _truthy(text):
        return "accept-new"
    return "yes"


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, ""):
            return v
    return None


def host_spec(
    name: str,
    hostvars: Mapping[str, Any],
    ssh_config: paramiko.SSHConfig | None = None,
) -> HostSpec:
    """The connection parameters of an inventory host (hostvars as Inventory.host_vars returns them)."""
    v = hostvars
    connection = str(v.get("ansible_connection") or "ssh")
    if connection not in ("ssh", "paramiko", "smart"):
        raise UserError(f"host {name}: ansible_connection={connection} is not supported (only ssh)")
    method = str(v.get("ansible_become_method") or "sudo")
    if method != "sudo":
        raise UserError(f"host {name}: ansible_become_method={method} is not supported (only sudo)")
    args = {}
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if v.get(var):
            for key, value in parse_ssh_args(str(v[var]), var).items():
                args.setdefault(key, value)
    if "configfile" in args:
        ssh_config = load_ssh_config(args["configfile"])
    elif ssh_config is None:
        ssh_config = load_ssh_config()
    target = str(_first(v.get("ansible_host"), v.get("ansible_ssh_host"), name))
    cfg = ssh_config.lookup(target)

    port = _first(v.get("ansible_port"), v.get("ansible_ssh_port"), args.get("port"), cfg.get("port"), 22)
    user = _first(v.get("ansible_user"), v.get("ansible_ssh_user"), args.get("user"), cfg.get("user"))
    keys: list[str] = []
    explicit_key = _first(v.get("ansible_ssh_private_key_file"), v.get("ansible_private_key_file"))
    if explicit_key:
        keys.append(str(explicit_key))
    if args.get("identityfile"):
        keys.extend(args["identityfile"].split("\n"))
    keys.extend(cfg.get("identityfile", []))

    known = []
    for source in (args.get("userknownhostsfile"), cfg.get("userknownhostsfile")):
        if source:
            known.extend(p for p in source.split() if p.lower() != "none")
    record_to = known[0] if known else DEFAULT_KNOWN_HOSTS
    for default in (DEFAULT_KNOWN_HOSTS, GLOBAL_KNOWN_HOSTS):
        if default not in known:
            known.append(default)

    strict = _first(args.get("stricthostkeychecking"), cfg.get("stricthostkeychecking"))
    checking = v.get("ansible_host_key_checking", v.get("ansible_ssh_host_key_checking"))
    if strict is None and checking is not None:
        strict = "yes" if _truthy(checking) else "no"
    timeout = _first(args.get("connecttimeout"), v.get("ansible_ssh_timeout"), v.get("ansible_timeout"),
                     cfg.get("connecttimeout"), DEFAULT_CONNECT_TIMEOUT)
    keepalive = _first(args.get("serveraliveinterval"), cfg.get("serveraliveinterval"), DEFAULT_KEEPALIVE)
    try:
        port, timeout, keepalive = int(port), float(timeout), float(keepalive)
    except (TypeError, ValueError):
        raise UserError(f"host {name}: port, timeout and keepalive must be numbers") from None

    spec = HostSpec(
        name=name,
        host=str(_first(cfg.get("hostname"), target)),
        port=port,
        user=str(user) if user else getpass.getuser(),
        key_files=tuple(dict.fromkeys(keys)),
        password=_first(v.get("ansible_password"), v.get("ansible_ssh_pass"), v.get("ansible_ssh_password")),
        become_password=_first(v.get("ansible_become_password"), v.get("ansible_become_pass")),
        become_user=str(v.get("ansible_become_user") or "root"),
        known_hosts_files=tuple(known),
        record_known_hosts_to=record_to,
        strict_host_key_checking=_as_bool_setting(strict or "yes"),
        proxy_command=_first(args.get("proxycommand"), cfg.get("proxycommand")),
        host_key_alias=_first(args.get("hostkeyalias"), cfg.get("hostkeyalias")),
        connect_timeout=timeout,
        keepalive=keepalive,
        look_for_default_keys=str(cfg.get("identitiesonly", "no")).lower() != "yes",
    )
    if spec.proxy_command and spec.proxy_command.lower() == "none":
        spec = replace(spec, proxy_command=None)
    jump = _first(args.get("proxyjump"), cfg.get("proxyjump"))
    if jump and jump.lower() != "none":
        spec = replace(spec, jump=tuple(_jump_spec(hop, spec, ssh_config) for hop in jump.split(",")))
    return spec


def inventory_specs(inventory: Any, hosts: list[str] | None = None,
                    ssh_config: paramiko.SSHConfig | None = None) -> dict[str, HostSpec]:
    """HostSpecs of some (default: all) hosts of an Inventory, ~/.ssh/config read once."""
    config = ssh_config if ssh_config is not None else load_ssh_config()
    return {h: host_spec(h, inventory.host_vars(h), config) for h in (hosts or inventory.hosts)}


def _truthy(value: Any) -> bool:
    """Host key checking stays on unless the value is one of Ansible's false words."""
    from y7deploy.fleet.convert import FALSY

    return str(value).strip().lower() not in FALSY


def _jump_spec(hop: str, target: HostSpec, ssh_config: paramiko.SSHConfig) -> HostSpec:
    """One ProxyJump hop `[user@]host[:port]`, completed from ~/.ssh/config, else from the target's settings.

    The hop shares the target's known_hosts files and checking mode, and tries the
    target's keys after its own: how ProxyJump usually works with one deploy key.
    """
    hop = hop.strip()
    if hop.startswith("ssh://"):
        hop = hop[len("ssh://"):]
    user, _, rest = hop.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    cfg = ssh_config.lookup(host)
    try:
        port_number = int(_first(port, cfg.get("port"), 22))
    except ValueError:
        raise UserError(f"host {target.name}: bad ProxyJump hop {hop!r}") from None
    keys = tuple(dict.fromkeys(list(cfg.get("identityfile", [])) + list(target.key_files)))
    return replace(
        target,
        name=f"{host} (jump host for {target.name})",
        host=str(cfg.get("hostname", host)),
        port=port_number,
        user=str(_first(user, cfg.get("user"), target.user)),
        key_files=keys,
        password=None,
        become_password=None,
        jump=(),
        proxy_command=None,
        host_key_alias=cfg.get("hostkeyalias"),
    )
