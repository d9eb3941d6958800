"""What push and rollback share: the request, reading every host before acting, the
per-host report, the failure threshold, and the record in the ledger.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from y7deploy.deploy import state as dstate
from y7deploy.deploy.activate import Outcome, Target
from y7deploy.deploy.steps import Fleet
from y7deploy.errors import EXIT_ABORTED, EXIT_BAD_INPUT, EXIT_HOSTS_FAILED, EXIT_OK, UserError
from y7deploy.fleet.runner import RunOptions

# Results that leave a host where the run wanted it (a rollback's goal is rolled_back).
FINE = {"push": {"committed", "unchanged", "would_change", "untouched"},
        "rollback": {"rolled_back", "unchanged", "would_change", "untouched"}}


@dataclass
class Request:
    """What the operator asked of push or rollback (the CLI's options, checked)."""

    inventory: str | list[str]
    limit: str | None = None
    serial: str | None = "1,25%,100%"
    max_fail_percentage: float = 0.0
    on_abort: str = "revert"  # revert | stop
    check: bool = False
    diff: bool = False
    lock_timeout: float = 30.0
    ledger: str | None = None
    run: RunOptions = field(default_factory=RunOptions)

    def __post_init__(self) -> None:
        if self.on_abort not in ("revert", "stop"):
            raise UserError(f"--on-abort {self.on_abort!r}: expected revert or stop")
        if not 0 <= self.max_fail_percentage <= 100:
            raise UserError(f"--max-fail-percentage {self.max_fail_percentage:g}: expected 0 to 100")


@dataclass
class HostReport:
    host: str
    result: str  # committed | unchanged | rolled_back | rollback_failed | failed | unreachable | busy
    #              | refused | untouched | reverted (put back by an abort) | would_change (--check)
    reason: str = ""
    from_release: str | None = None
    to_release: str | None = None
    engine_key: str | None = None
    build_seconds: float | None = None
    engine: str | None = None  # built | copied | present
    bytes_sent: int = 0
    fps: float | None = None
    wave: int | None = None
    check: dict[str, Any] = field(default_factory=dict)  # what --check found


@dataclass
class Report:
    kind: str  # push | rollback
    release: str | None
    run_id: str | None
    hosts: dict[str, HostReport] = field(default_factory=dict)
    refusals: list[tuple[str, str]] = field(default_factory=list)
    aborted: bool = False
    abort_reason: str = ""
    untouched: list[str] = field(default_factory=list)
    check: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.refusals:
            return EXIT_BAD_INPUT
        if self.aborted:
            return EXIT_ABORTED
        if any(h.result not in FINE[self.kind] for h in self.hosts.values()):
            return EXIT_HOSTS_FAILED
        return EXIT_OK

    def to_json(self) -> str:
        data = {"kind": self.kind, "release": self.release, "run_id": self.run_id, "check": self.check,
                "exit_code": self.exit_code, "aborted": self.aborted, "abort_reason": self.abort_reason,
                "untouched": self.untouched, "refusals": [{"host": h, "reason": r} for h, r in self.refusals],
                "timings": self.timings,
                "hosts": {h: dataclasses.asdict(r) for h, r in self.hosts.items()}}
        return json.dumps(data, indent=2, sort_keys=True)


@dataclass
class Device:
    """One host as read before acting: its facts and its y7deploy state."""

    facts: dict[str, Any]
    raw: dict[str, Any]  # the device helper's `state` output ({} on a host never pushed to)
    state: dstate.DeviceState

    @property
    def current(self) -> str | None:
        return self.raw.get("current")

    @property
    def releases(self) -> list[str]:
        return list(self.raw.get("releases") or [])

    @property
    def engines(self) -> list[str]:
        return list(self.raw.get("engines") or [])

    def parser_sha(self, cuda_ver: str, opencv: bool = False) -> str:
        """The src-sha of the newest parser provision built here for this CUDA (and OpenCV or not):
        push names the library the host has, whatever checkout the workstation holds now."""
        suffix = f"-cuda{cuda_ver}" + ("-opencv" if opencv else "")
        for name in self.raw.get("parsers") or []:
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return ""


def read_devices(fleet: Fleet, hosts: list[str], playbook: str = "push.yml") -> tuple[dict[str, Device], dict[str, str]]:
    """Facts and state of every host, one round trip each: ({host: Device}, {host: why not})."""
    devices: dict[str, Device] = {}
    down: dict[str, str] = {}
    for host, step in fleet.step(playbook, "probe", hosts).items():
        result = step.tasks.get("facts and device state", {})
        if not step.ok or "ansible_facts" not in result:
            down[host] = step.msg or step.status
            continue
        facts = result["ansible_facts"]
        devices[host] = device(host, facts.get("y7") or {}, facts.get("jetson") or {})
    return devices, down


def device(host: str, raw: dict[str, Any], facts: dict[str, Any] | None = None) -> Device:
    """A Device from the device helper's `state` output (and the host's facts, when read)."""
    return Device(facts or {}, raw, dstate.parse_state(raw.get("state_json"), f"{host}:state.json"))


def operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def doc(state: dstate.DeviceState) -> dict[str, Any]:
    return json.loads(dstate.render_state(state))


def gate_settings(host_vars: dict[str, Any]) -> dict[str, Any]:
    """The gate's figures for a host that is not re-planned (rollback): its vars or the defaults."""
    from y7deploy.deploy.plan import VAR_DEFAULTS

    def var(name: str) -> Any:
        value = host_vars.get(name)
        return VAR_DEFAULTS.get(name) if value is None else value

    return {"min_fps": float(var("min_fps")), "window_s": float(var("health_window")),
            "perf_interval_s": float(var("y7_perf_interval_s")),
            "streams": len(host_vars.get("y7_sources") or []) or 1,
            "commit_deadline_s": int(var("commit_deadline")), "keep_releases": int(var("keep_releases")),
            "gate_deadline_s": gate_deadline(host_vars, float(var("health_window")),
                                             float(var("y7_perf_interval_s")))}


def gate_deadline(host_vars: dict[str, Any], window_s: float, interval_s: float) -> float:
    """`health_deadline` (per class, from group vars) or the window plus start-up slack."""
    value = host_vars.get("health_deadline")
    return float(value) if value is not None else window_s + 2 * interval_s + 30.0


def back_target(host: str, device: Device, to: str, run_id: str, host_vars: dict[str, Any],
                reason: str, root: str) -> Target:
    """A commit-confirmed switch of a committed host to the kept release `to` (a rollback):
    nothing new arrives, so nothing is pruned."""
    now = time.time()
    g = gate_settings(host_vars)
    from y7deploy.deploy.activate import confirm_window

    deadline = confirm_window(g["commit_deadline_s"], g["gate_deadline_s"])
    key = (device.raw.get("release_engines") or {}).get(to) or None
    switched = dstate.switched(device.state, to, run_id, key, now + deadline, now)
    final = dataclasses.replace(dstate.committed(switched, run_id, now, reason), state="rolled_back")
    return Target(release=to, root=root, switch_doc=doc(switched), revert_doc=doc(device.state),
                  commit_doc=doc(final), engine_path=None, keep_releases=None, **{k: g[k] for k in (
                      "min_fps", "window_s", "streams", "perf_interval_s", "gate_deadline_s",
                      "commit_deadline_s")})


def recorded(req: Request, report: Report, options: dict[str, Any], body: Callable[[], None],
             started: float, redactor: Any = None) -> None:
    """Run `body` as one ledger run: started before it, every host recorded after it, however it ends."""
    from y7deploy.deploy.ledger import Ledger

    ledger = Ledger(ledger_file(req.ledger, req.inventory), redactor)
    report.run_id = ledger.start_run(report.kind, report.release, operator(), options)
    try:
        body()
    finally:
        report.timings["total"] = time.monotonic() - started
        record(ledger, report.run_id, report)


def record(ledger: Any, run_id: str | None, report: Report) -> None:
    if ledger is None or run_id is None:
        return
    for r in report.hosts.values():
        ledger.record_host(run_id, r.host, from_release=r.from_release, to_release=r.to_release,
                           engine_key=r.engine_key, build_seconds=r.build_seconds, cache_used=r.engine,
                           fps=r.fps, result=r.result, reason=r.reason)
    result = "aborted" if report.aborted else ("failed" if report.exit_code else "ok")
    ledger.finish_run(run_id, result, report.abort_reason)


def apply_outcome(r: HostReport, outcome: Outcome) -> None:
    r.result, r.reason = outcome.result, outcome.reason
    r.fps = outcome.fps if outcome.fps is not None else r.fps


def host_vars(fleet: Fleet, host: str) -> dict[str, Any]:
    return {**fleet.inventory.host_vars(host), **fleet.options.extra_vars}


def ledger_file(option: str | None, inventory: str | list[str] | tuple[str, ...] | None) -> Path:
    """deploy/ledger.py's ledger_path for the first inventory source given."""
    from y7deploy.deploy.ledger import ledger_path

    first = (inventory if isinstance(inventory, str) else inventory[0]) if inventory else None
    return ledger_path(option, first)
