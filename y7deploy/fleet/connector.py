"""How the runner gets a host's connection: the Connector protocol and the SSH connector.

The runner asks its connector once per host per run, the first time a task needs the host,
and closes what it got at the end of the run. `prepare` (optional) is called for every
host before anything runs, so a bad connection variable is bad input (exit 2) rather than
a failure halfway through a rollout. `Kept` keeps connections open across several runs
(the steps of one rollout), closed by its own close().
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from y7deploy.fleet.errors import Unreachable

if TYPE_CHECKING:
    from y7deploy.fleet.connection import Connection, Result, _Running
    from y7deploy.fleet.hostspec import HostSpec


class SSHOptions(Protocol):
    """What the SSH connector reads of a run's options (runner.RunOptions has them)."""

    extra_vars: dict[str, Any]
    become_password: str | None
    accept_new_host_keys: bool


class Link(Protocol):
    """What the runner, modules and facts use of a connection (y7deploy.fleet.connection.Connection)."""

    name: str

    def run(self, command: str, *, sudo: bool = False, stdin: bytes | str | None = None,
            timeout: float | None = None, env: Any = None) -> "Result": ...

    def start(self, command: str, *, sudo: bool = False, env: Any = None,
              timeout: float | None = None) -> "_Running": ...

    def put_bytes(self, data: bytes, remote: str, *, mode: int | str | None = None, sudo: bool = False) -> bool: ...

    def put_file(self, local: Any, remote: str, *, mode: int | str | None = None, sudo: bool = False) -> bool: ...

    def get_bytes(self, remote: str, *, sudo: bool = False, timeout: float | None = None) -> bytes: ...

    def close(self) -> None: ...


class Connector(Protocol):
    """`connector(name, host_vars)` -> an open Link, or raises Unreachable."""

    def __call__(self, name: str, host_vars: dict[str, Any]) -> Link: ...


class SSHConnector:
    """Opens one SSH Connection (y7deploy.fleet.connection) per host from its inventory vars,
    -e (which wins, as in Ansible), ~/.ssh/config, the become password and the host-key mode."""

    def __init__(self, options: SSHOptions):
        from y7deploy.fleet.hostspec import load_ssh_config

        self.options = options
        self.ssh_config = load_ssh_config()
        self.specs: dict[str, "HostSpec"] = {}

    def prepare(self, name: str, host_vars: dict[str, Any]) -> None:
        """Build the host's spec now; UserError on a bad connection variable."""
        from y7deploy.fleet.hostspec import host_spec

        spec = host_spec(name, {**host_vars, **self.options.extra_vars}, self.ssh_config)
        if self.options.become_password:
            spec = replace(spec, become_password=self.options.become_password)
        self.specs[name] = spec

    def __call__(self, name: str, host_vars: dict[str, Any]) -> "Connection":
        from y7deploy.fleet.connection import Connection

        if name not in self.specs:
            self.prepare(name, host_vars)
        return Connection(self.specs[name], accept_new_host_keys=self.options.accept_new_host_keys).open()


def ssh_connector(inventory: Any, options: SSHOptions) -> SSHConnector:
    """The SSH connector for a run (the inventory is not needed: the runner hands each host's vars)."""
    del inventory
    return SSHConnector(options)


class Kept:
    """A connector whose connections outlive each run: the runner's close() leaves them open,
    so the steps of one rollout share one connection per host. close_all() closes them."""

    def __init__(self, connector: Connector):
        self.connector = connector
        self.links: dict[str, Link] = {}
        self._lock = threading.Lock()

    def prepare(self, name: str, host_vars: dict[str, Any]) -> None:
        prepare = getattr(self.connector, "prepare", None)
        if prepare is not None:
            prepare(name, host_vars)

    def __call__(self, name: str, host_vars: dict[str, Any]) -> Link:
        with self._lock:
            link = self.links.get(name)
        if link is None:
            link = self.connector(name, host_vars)
            with self._lock:
                self.links[name] = link
        return Unclosed(link)  # type: ignore[return-value]

    def close_all(self) -> None:
        with self._lock:
            links, self.links = list(self.links.values()), {}
        for link in links:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - a dead link is closed enough
                pass


class Unclosed:
    """A Link whose close() is left to whoever keeps it (Kept, or a rollout's own cache)."""

    def __init__(self, link: Link):
        self._link = link

    def __getattr__(self, name: str) -> Any:
        return getattr(self._link, name)

    def close(self) -> None:
        pass


__all__ = ["Connector", "Kept", "Link", "SSHConnector", "Unclosed", "Unreachable", "ssh_connector"]
