"""The device side of a rollout: the plays of playbooks/push.yml and rollback.yml (both
import switch.yml, the commit-confirmed switch), run by tag on some hosts through the fleet
runner, over connections kept open for the whole rollout, and the per-host lock a push or
rollback holds from its first change to its end (taken, with a read of the device, in one
command).

Each step hands the runner the per-host plan as `y7_plan` and returns every host's result:
its status (ok, changed, failed, unreachable) and what each task said.
"""

from __future__ import annotations

import base64
import copy
import json
import shlex
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from y7deploy.fleet.connector import Unclosed
from y7deploy.fleet.report import Silent
from y7deploy.fleet.runner import RunOptions, Runner, ssh_connector

ROOT = "/opt/y7deploy"
LEASE_S = 30

# argv: lock file ('' for none), seconds to wait for it, lease, a shell script ('' for none).
# Takes the lock, runs the script under it and prints Y7LOCKED and the script's output
# (base64) on one line: lock and read in one round trip. Then holds the lock until stdin
# ends or stays silent for a whole lease. Where the lock's folder is missing nothing was
# ever deployed: there is nothing to hold, and the script still runs.
LOCK_HOLDER = """
import base64, fcntl, os, select, subprocess, sys, time
path, wait, lease, script = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
held = bool(path) and os.path.isdir(os.path.dirname(path))
if held:
    f = open(path, "a")
    give_up = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > give_up:
                sys.exit(75)
            time.sleep(0.2)
said = subprocess.run(["sh", "-c", script], stdout=subprocess.PIPE).stdout if script else b""
print("Y7LOCKED " + base64.b64encode(said).decode(), flush=True)
while held and select.select([0], [], [], lease)[0] and os.read(0, 4096):
    pass
"""


def playbook_path(name: str) -> Path:
    """A playbook shipped in the package (y7deploy/playbooks/NAME)."""
    return Path(str(resources.files("y7deploy") / "playbooks" / name))


@dataclass
class HostStep:
    """One host's outcome of one step: its status and each task's result, by task name."""

    status: str = "ok"  # ok | changed | failed | unreachable | skipped
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    msg: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "changed", "skipped")

    def stdout_json(self, task: str) -> dict[str, Any]:
        """The JSON a device-helper task printed (empty when it printed none)."""
        text = str(self.tasks.get(task, {}).get("stdout", "")).strip().splitlines()
        try:
            return json.loads(text[-1]) if text else {}
        except ValueError:
            return {}


class _Collect(Silent):
    """A runner reporter that keeps each host's results and tells the live view what runs."""

    def __init__(self, on_task: Callable[[str, str, str, dict[str, Any]], None] | None):
        self.steps: dict[str, HostStep] = {}
        self.task = ""
        self.on_task = on_task

    def task_start(self, title: str, handler: bool = False) -> None:
        self.task = title

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        step = self.steps.setdefault(host, HostStep())
        step.tasks[self.task] = result
        rank = ["ok", "skipped", "changed", "failed", "unreachable"]
        if status in rank and rank.index(status) > rank.index(step.status):
            step.status = status
        if status in ("failed", "unreachable") and not step.msg:
            said = str(result.get("stderr") or "").strip().splitlines()
            step.msg = f"{self.task}: {result.get('msg') or status}" + (f" ({said[-1][-200:]})" if said else "")
        if self.on_task:
            self.on_task(host, self.task, status, result)


class Fleet:
    """The hosts of one rollout: their connections, locks, and the steps run on them."""

    def __init__(self, inventory: Any, options: RunOptions, on_task=None):
        self.inventory = inventory
        self.options = options
        self.connect = ssh_connector(inventory, options)
        self.on_task = on_task
        self.conns: dict[str, Any] = {}
        self.locks: dict[str, Any] = {}
        self._books: dict[str, Any] = {}  # parsed and checked once: a gate polls its play many times
        self._beat: threading.Thread | None = None
        self._closing = threading.Event()

    def _connect(self, name: str, host_vars: dict[str, Any]) -> Any:
        if name not in self.conns:
            self.conns[name] = Unclosed(self.connect(name, host_vars))
        return self.conns[name]

    def step(self, playbook: str, tag: str, hosts: list[str], plan: dict[str, Any] | None = None,
             check: bool = False, diff: bool = False) -> dict[str, HostStep]:
        """Run the play tagged `tag` of `playbook` on `hosts`; every host's outcome."""
        from y7deploy.fleet.playbook import load_playbook

        if not hosts:
            return {}
        extra = dict(self.options.extra_vars)
        extra["y7_plan"] = plan or {}
        options = RunOptions(check=check, diff=diff, limit=",".join(hosts), tags={tag},
                             forks=self.options.forks, extra_vars=extra,
                             become_password=self.options.become_password,
                             accept_new_host_keys=self.options.accept_new_host_keys)
        collect = _Collect(self.on_task)

        first = playbook not in self._books
        if first:
            self._books[playbook] = load_playbook(playbook_path(playbook))
        runner = Runner(copy.deepcopy(self._books[playbook]), self.inventory, options, collect, self._connect)
        runner.prepare(check_vars=first)
        runner.run()
        return {h: collect.steps.get(h, HostStep(status="skipped")) for h in hosts}

    # --- the lock: held from before the first change until the rollout ends ---------------

    def lock(self, hosts: list[str], timeout: float, root: str = ROOT) -> dict[str, str]:
        """Take every host's .lock (flock); {host: "" when held, else why not (busy/unreachable)}.

        The holder on the device is a small python3 process that keeps the flock while this
        process keeps talking to it: it lets go when the channel closes (this process ended,
        however) or when no heartbeat came for LEASE_S (the link died without a word).
        """
        _, down = self.lock_and_read({h: root for h in hosts}, timeout, make_root=True)
        return {h: down.get(h, "") for h in hosts}

    def lock_and_read(self, roots: dict[str, str], timeout: float, script: Callable[[str], str] | None = None, *,
                      lock: bool = True, make_root: bool = False) -> tuple[dict[str, str], dict[str, str]]:
        """`lock` each host (at its root; without `lock`, take none) and run the shell
        `script(root)` under the lock, in the same command: ({host: what the script printed},
        {host: why not}). Without `make_root` no folder is made: a host where nothing was
        ever deployed has no lock to take, and the script still runs."""
        from y7deploy.fleet.connection import run_parallel

        def take(host: str) -> tuple[str, str]:
            conn = self._connect(host, self.inventory.host_vars(host))
            root = roots[host]
            argv = " ".join(shlex.quote(a) for a in (f"{root}/.lock" if lock else "", str(int(timeout)),
                                                       str(LEASE_S), script(root) if script else ""))
            running = conn.start((f"mkdir -p {shlex.quote(root)} && " if make_root else "")
                                 + f"exec python3 -c {shlex.quote(LOCK_HOLDER)} {argv}", sudo=True)
            chan, seen = running.chan, b""
            deadline = time.monotonic() + timeout + 30
            while not (b"Y7LOCKED" in seen and seen.endswith(b"\n")):
                if chan.recv_ready():
                    seen += chan.recv(65536)
                elif chan.exit_status_ready() or chan.closed:
                    return f"busy: another push or rollback holds {root}/.lock (waited {timeout:g} s)", ""
                elif time.monotonic() > deadline:
                    chan.close()
                    return "lock: no answer", ""
                else:
                    time.sleep(0.01)
            self.locks[host] = running
            encoded = seen.rpartition(b"Y7LOCKED")[2].strip()
            return "", base64.b64decode(encoded).decode("utf-8", "replace")

        def safe(host: str) -> tuple[str, str]:
            try:
                return take(host)
            except Exception as exc:  # noqa: BLE001 - the connection layer's Unreachable and the like
                return f"unreachable: {exc}", ""

        said: dict[str, str] = {}
        down: dict[str, str] = {}
        for host, result in run_parallel(list(roots), safe, self.options.forks).items():
            why, text = result if isinstance(result, tuple) else (f"unreachable: {result}", "")
            if why:
                down[host] = why
            else:
                said[host] = text
        if self.locks and self._beat is None:
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()
        return said, down

    def _heartbeat(self) -> None:
        while not self._closing.wait(LEASE_S / 3):
            for running in list(self.locks.values()):
                try:
                    running.chan.sendall(b"\n")
                except Exception:  # noqa: BLE001 - a dead link: the holder lets go by itself
                    pass

    def close(self) -> None:
        self._closing.set()
        for running in self.locks.values():
            try:
                running.chan.close()
            except Exception:  # noqa: BLE001 - a dead link already released the lock
                pass
        for kept in self.conns.values():
            try:
                kept._conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conns.clear()
        self.locks.clear()
