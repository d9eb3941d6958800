"""Claims of the fleet commands, checked through the CLI and the runner on the lab: the become
password never shows (-K, the environment, ansible_become_password), one connection per host
for a whole run and at most --forks hosts at once, --accept-new-host-keys."""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner

import fleet_kit as kit
from y7deploy.fleet.redact import MASK

pytestmark = pytest.mark.lab

PASSWORD = "s3cret sudo; $(reboot) 'pw'"

SUDO_BOOK = """
- hosts: jetson02
  gather_facts: false
  become: true
  tasks:
    - name: who
      command: id -un
      register: who
    - assert: {that: ["who.stdout == 'root'"]}
"""
NAMING_TASKS = """
    - name: show the variable
      debug: {var: ansible_become_password}
    - name: a failure that names it
      shell: echo "{{ ansible_become_password }}" >&2; exit 3
      ignore_errors: true
"""


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    from y7deploy.cli import cli as main

    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def sudo_inventory(lab, tmp_path_factory):
    """The lab inventory with jetson02 reached as a user whose sudo asks for PASSWORD."""
    kit.add_sudo_user(lab, "jetson02", "y7sudo", PASSWORD)
    fleet = kit.Fleet(lab, tmp_path_factory.mktemp("sudo"))
    return fleet, fleet.derived_inventory(host_vars={"jetson02": {"ansible_user": "y7sudo"}})


@pytest.mark.parametrize("how", ["ask", "env", "inventory"])
def test_become_password_never_shown(sudo_inventory, tmp_path, how):
    fleet, inventory = sudo_inventory
    book = tmp_path / "sudo.yml"
    book.write_text(SUDO_BOOK + (NAMING_TASKS if how == "inventory" else ""))
    args, env, typed = [], {}, None
    if how == "ask":
        args, typed = ["-K"], PASSWORD + "\n"
    elif how == "env":
        env = {"Y7DEPLOY_BECOME_PASSWORD": PASSWORD}
    else:
        inventory = fleet.derived_inventory(host_vars={"jetson02": {"ansible_user": "y7sudo",
                                                                     "ansible_become_password": PASSWORD}})
    for output in ([], ["--json"]):
        code, text = cli("play", str(book), "-i", inventory, *args, *output, env=env, input=typed)
        assert code == 0, text
        assert PASSWORD not in text and "$(reboot)" not in text
        if output and how == "inventory":
            doc = json.loads(text[text.index("{"):])
            assert doc["plays"][0]["tasks"][2]["hosts"]["jetson02"]["ansible_become_password"] == MASK
            assert doc["stats"]["jetson02"]["ignored"] == 1
        elif how == "inventory":
            assert MASK in text
    book.write_text(SUDO_BOOK)
    wrong_env = {"Y7DEPLOY_BECOME_PASSWORD": "not-" + PASSWORD}
    code, text = cli("play", str(book), "-i", kit.Fleet(fleet.lab, tmp_path).derived_inventory(
        host_vars={"jetson02": {"ansible_user": "y7sudo"}}), "--json", env=wrong_env)
    assert code == 3 and "not-" + PASSWORD not in text and PASSWORD not in text


class Meeting:
    """Hosts meet in groups of `size` in the order they arrive; the last group is what is left
    of `hosts` (five hosts, two at a time: 2, 2, 1). Each waits until its group is complete."""

    def __init__(self, size: int, hosts: int, timeout: float = 120):
        self.size, self.hosts, self.timeout = size, hosts, timeout
        self.arrived = 0
        self.ready = threading.Condition()

    def wait(self) -> None:
        with self.ready:
            complete = min((self.arrived // self.size + 1) * self.size, self.hosts)
            self.arrived += 1
            self.ready.notify_all()
            if not self.ready.wait_for(lambda: self.arrived >= complete, timeout=self.timeout):
                raise RuntimeError(f"{complete - self.arrived} more hosts never came to the meeting")


class Watching:
    """A connector around the SSH one: counts connections per host and which hosts are busy
    at once. A command containing `y7-meet` waits until `meet` hosts are in it together (fewer
    only for the last of `hosts`), so a runner that never runs `meet` hosts at once would fail
    here rather than pass slowly."""

    def __init__(self, inner: Any, meet: int, hosts: int):
        self.inner = inner
        self.opened: collections.Counter[str] = collections.Counter()
        self.busy: set[str] = set()
        self.most_busy = 0
        self.lock = threading.Lock()
        self.meeting = Meeting(meet, hosts)

    def prepare(self, name: str, host_vars: dict[str, Any]) -> None:
        self.inner.prepare(name, host_vars)

    def __call__(self, name: str, host_vars: dict[str, Any]) -> Any:
        with self.lock:
            self.opened[name] += 1
        return _Watched(self.inner(name, host_vars), name, self)


class _Watched:
    def __init__(self, conn: Any, name: str, watch: Watching):
        self._conn, self._name, self._watch = conn, name, watch

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._conn, attr)

    def run(self, command: str, **kwargs: Any) -> Any:
        w = self._watch
        with w.lock:
            w.busy.add(self._name)
            w.most_busy = max(w.most_busy, len(w.busy))
        try:
            if "y7-meet" in command:
                w.meeting.wait()
            return self._conn.run(command, **kwargs)
        finally:
            with w.lock:
                w.busy.discard(self._name)


BUSY_BOOK = """
- hosts: all
  gather_facts: true
  tasks:
    - command: echo y7-meet
    - file: {path: /tmp/y7t, state: directory}
    - copy: {content: "{{ inventory_hostname }}", dest: /tmp/y7t/name}
      notify: touched
  handlers:
    - name: touched
      file: {path: /tmp/y7t/handled, state: touch}
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - command: echo again
"""


def test_one_connection_per_host_for_the_run_and_at_most_forks_at_once(lab, tmp_path):
    from y7deploy.cli.options import load
    from y7deploy.fleet.report import Collector
    from y7deploy.fleet.runner import RunOptions, run_playbook, ssh_connector

    book = tmp_path / "busy.yml"
    book.write_text(BUSY_BOOK)
    inventory = load([str(lab.inventory_path)])
    options = RunOptions(forks=2)
    watch = Watching(ssh_connector(inventory, options), meet=2, hosts=len(lab.hosts))
    with kit.session(lab, tmp_path) as fleet:
        result = run_playbook(book, inventory, options, Collector(), watch)
        assert result.exit_code == 0, result.plays
        assert all(fleet.exists(h, "/tmp/y7t/handled") for h in fleet.hosts)
    assert dict(watch.opened) == {h: 1 for h in fleet.hosts}  # two plays, 1 + one wave a host: one connection each
    assert watch.most_busy == 2


def test_kept_connections_serve_several_runs(lab, tmp_path):
    """The steps of one rollout (several runs) share one connection per host through Kept."""
    from y7deploy.cli.options import load
    from y7deploy.fleet.connector import Kept
    from y7deploy.fleet.report import Collector
    from y7deploy.fleet.runner import RunOptions, run_playbook, ssh_connector

    book = tmp_path / "ping.yml"
    book.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n")
    inventory = load([str(lab.inventory_path)])
    options = RunOptions()
    watch = Watching(ssh_connector(inventory, options), meet=1, hosts=len(lab.hosts))
    kept = Kept(watch)
    try:
        for _ in range(3):
            assert run_playbook(book, inventory, options, Collector(), kept).exit_code == 0
        assert dict(watch.opened) == {h.name: 1 for h in lab.hosts}
        assert all(link.alive() for link in kept.links.values())
    finally:
        kept.close_all()
    assert kept.links == {}


def test_accept_new_host_keys_through_the_cli(lab, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    fleet = kit.Fleet(lab, tmp_path)
    inventory = fleet.derived_inventory(host_vars={"jetson01": {  # host_vars/ beat the inventory's inline vars
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"}})
    address = lab.host("jetson01").address

    code, text = cli("ping", "-i", inventory, "--limit", "jetson01")
    assert code == 3 and "--accept-new-host-keys" in text and "SHA256:" in text
    assert known.read_text() == ""
    code, text = cli("ping", "-i", inventory, "--limit", "jetson01", "--accept-new-host-keys")
    assert code == 0, text
    assert address in known.read_text()
    code, text = cli("ping", "-i", inventory, "--limit", "jetson01")
    assert code == 0, text

    # a changed key is refused even with the flag (jetson02's key recorded under jetson01's address)
    theirs = next(line for line in lab.known_hosts.read_text().splitlines()
                  if lab.host("jetson02").address in line.split()[0].split(","))
    known.write_text(f"{address} {' '.join(theirs.split()[1:3])}\n")
    code, text = cli("ping", "-i", inventory, "--limit", "jetson01", "--accept-new-host-keys")
    assert code == 3 and "UNREACHABLE" in text
    assert known.read_text() == f"{address} {' '.join(theirs.split()[1:3])}\n"


def test_unknown_option_value_is_one_line(lab):
    code, text = cli("ping", "-i", str(lab.inventory_path), "--forks", "0")
    assert code == 2 and len(text.strip().splitlines()) == 1 and "Traceback" not in text
