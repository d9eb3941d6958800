"""What the fleet tests share: run the real CLI in-process against the lab, look at hosts.

tests/fleet/conftest.py puts this folder on the path; tests `import fleet_kit as kit`.
It stays a plain module with no pytest magic of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

HERE = Path(__file__).parent
WORK = "/tmp/y7t"  # where test playbooks write on the hosts


class Run:
    """One CLI invocation: exit code, stdout, stderr."""

    def __init__(self, exit_code: int, output: str, stderr: str):
        self.exit_code, self.output, self.stderr = exit_code, output, stderr

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.output)

    def recap(self) -> dict[str, dict[str, int]]:
        """host -> {ok: n, changed: n, ...} parsed from the PLAY RECAP lines."""
        found = {}
        lines = self.output.splitlines()
        if "PLAY RECAP" not in self.output:
            return found
        start = next(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
        for line in lines[start + 1:]:
            if " : ok=" not in line:
                continue
            host, _, rest = line.partition(" : ")
            found[host.strip()] = {k: int(v) for k, v in (w.split("=") for w in rest.split())}
        return found


class Fleet:
    """The lab seen through y7deploy's CLI."""

    def __init__(self, lab: Any, tmp: Path):
        self.lab = lab
        self.tmp = tmp
        self.inventory = str(lab.inventory_path)
        self.hosts = [h.name for h in lab.hosts]

    def cli(self, *args: str, inventory: str | None = None) -> Run:
        from y7deploy.cli import cli

        result = CliRunner().invoke(cli, [*args, "-i", inventory or self.inventory], catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    def play(self, playbook: str | Path, *args: str, inventory: str | None = None) -> Run:
        path = Path(playbook)
        if not path.is_absolute():
            path = HERE / path
        return self.cli("play", str(path), *args, inventory=inventory)

    def facts(self) -> dict[str, Any]:
        run = self.cli("facts", "--json")
        assert run.exit_code == 0, run.output + run.stderr
        return json.loads(run.output)

    def root(self, host: str, command: str) -> str:
        """stdout of a root command run inside the host (not over SSH): the test's own eyes."""
        proc = self.lab.root(host, command)
        return proc.stdout if isinstance(proc.stdout, str) else proc.stdout.decode()

    def exists(self, host: str, path: str) -> bool:
        return self.lab.root(host, f"test -e '{path}' || test -L '{path}'").returncode == 0

    def clean(self, units: bool = False) -> None:
        """Remove what test playbooks leave on the hosts (all hosts at once)."""
        from concurrent.futures import ThreadPoolExecutor

        command = f"rm -rf {WORK}"
        if units:
            command += ("; systemctl stop y7t-demo.service 2>/dev/null; dpkg -r y7t-hello >/dev/null 2>&1; "
                        "rm -f /etc/systemd/system/y7t-demo.service; systemctl daemon-reload; true")
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            list(pool.map(lambda h: self.lab.root(h, command), self.hosts))

    def derived_inventory(self, host_vars: dict[str, dict[str, Any]] | None = None,
                          all_vars: dict[str, Any] | None = None) -> str:
        """A copy of the lab inventory with extra variables, as an Ansible user would add them."""
        base = yaml.safe_load(Path(self.inventory).read_text())
        base.setdefault("all", {}).setdefault("vars", {}).update(all_vars or {})
        target = self.tmp / "inventory"
        if target.exists():
            shutil.rmtree(target)
        (target / "host_vars").mkdir(parents=True)
        (target / "hosts.yml").write_text(yaml.safe_dump(base))
        for host, values in (host_vars or {}).items():
            (target / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(values))
        return str(target / "hosts.yml")


@contextlib.contextmanager
def session(lab: Any, tmp: Path, *, units: bool = False):
    """A Fleet on clean hosts, cleaned again afterwards."""
    fleet = Fleet(lab, tmp)
    fleet.clean(units=units)
    try:
        yield fleet
    finally:
        fleet.clean(units=units)


ANSIBLE_ENV = {"ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "LC_ALL": "C.UTF-8", "ANSIBLE_RETRY_FILES_ENABLED": "0",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def ansible_playbook(inventory: str, book: Path, extra: str, *args: str) -> Run:
    """ansible-playbook itself (the oracle), from the same virtualenv."""
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(book),
                           "-e", extra, "-f", "10", *args], capture_output=True, text=True,
                          env={**os.environ, **ANSIBLE_ENV})
    return Run(proc.returncode, proc.stdout, proc.stderr)


def ansible_hosts(inventory: str, pattern: str = "all") -> list[str]:
    """The hosts `pattern` names, in the order a play on it takes them, as ansible-core lists them."""
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), pattern, "-i", inventory, "--list-hosts"],
                          capture_output=True, text=True, env={**os.environ, **ANSIBLE_ENV})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].strip().startswith("hosts ("), proc.stdout  # "  hosts (N):", then one host a line
    return [line.strip() for line in lines[1:] if line.strip()]


def both_tools(lab: Any, tmp: Path, book: Path, extra_vars: str, look: Any) -> tuple[Run, Run]:
    """Run `book` by ansible-playbook, then (hosts cleaned) by y7deploy; same recap, same `look(fleet)`."""
    with session(lab, tmp) as fleet:
        oracle = ansible_playbook(fleet.inventory, book, extra_vars)
        assert "PLAY RECAP" in oracle.output, oracle.output + oracle.stderr
        oracle_seen = look(fleet)
        fleet.clean()
        ours = fleet.play(str(book), "-e", extra_vars)
        assert ours.recap() == oracle.recap(), ours.output + "\n---- ansible:\n" + oracle.output
        assert look(fleet) == oracle_seen
    return oracle, ours


def add_sudo_user(lab: Any, host: str, user: str, password: str) -> None:
    """A login on `host` with the lab's key whose sudo asks for `password` (the lab's own user needs none)."""
    from y7deploy.fleet.shell import quote_argv

    pub = lab.key_file.with_name(lab.key_file.name + ".pub").read_text()
    script = (
        f"id {user} >/dev/null 2>&1 || useradd -m -s /bin/bash {user}; "
        "printf '%s\\n' " + quote_argv([f"{user}:{password}"]) + " | chpasswd; "
        f"echo '{user} ALL=(ALL:ALL) ALL' > /etc/sudoers.d/91-{user}; chmod 440 /etc/sudoers.d/91-{user}; "
        f"install -d -m 700 -o {user} -g {user} /home/{user}/.ssh; "
        "printf '%s' " + quote_argv([pub]) + f" > /home/{user}/.ssh/authorized_keys; "
        f"chown {user}: /home/{user}/.ssh/authorized_keys; chmod 600 /home/{user}/.ssh/authorized_keys"
    )
    proc = lab.root(host, ["sh", "-c", script])
    assert proc.returncode == 0, proc.stderr


WAVE_BOOK = """
- name: rollout
  hosts: all
  gather_facts: false
  serial: {serial}
  {extra}
  tasks:
    - name: mark
      ansible.builtin.file: {{path: /tmp/y7t, state: directory}}
    - name: maybe fail
      ansible.builtin.command: "false"
      when: inventory_hostname in fail_hosts
    - name: loop
      ansible.builtin.file: {{path: "/tmp/y7t/{{{{ item }}}}", state: touch}}
      loop: [a, b]
      when: item != 'b'
      notify: done
    - name: ignored
      ansible.builtin.command: "false"
      ignore_errors: true
  handlers:
    - name: done
      ansible.builtin.file: {{path: /tmp/y7t/handler, state: touch}}
"""


def wave_book(tmp: Path, serial: str, extra: str = "") -> Path:
    """A rollout playbook: `fail_hosts` (-e) fail in the middle; /tmp/y7t/a marks a host that got past it."""
    path = tmp / "rollout.yml"
    path.write_text(WAVE_BOOK.format(serial=serial, extra=extra))
    return path
