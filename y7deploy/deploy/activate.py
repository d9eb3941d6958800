"""Activate, verify, commit or put back: what push and rollback do once a wave is staged.

Per host: arm the device's commit-confirmed timer, switch `current`, restart (one device
command); then watch the gate (unit and journal since the restart, judged by
deploy/health.py) until it passes, fails for good, or its deadline passes; commit the
hosts that passed; switch the others back, restart the release that ran before, and watch
the same gate on it: a host whose old release fails too is reported as rollback_failed.
A host that drops off after its switch is left to its own timer, which reverts it.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from y7deploy.deploy import health
from y7deploy.deploy.steps import Fleet

LOOK_S = 5.0  # the longest one look at a host's gate waits on the device for a **PERF: line
# A look's time limit beyond its wait: a link that drops while the device waits is noticed
# after keepalives and TCP's timeout (over 30 s), while the hosts sharing the step wait on
# it with their commit-confirmed deadlines running.
LOOK_SLACK_S = 10.0


@dataclass
class Target:
    """Where one host goes and how its gate is judged."""

    release: str
    root: str
    switch_doc: dict[str, Any]  # state.json while uncommitted
    revert_doc: dict[str, Any]  # state.json if this switch is undone
    commit_doc: dict[str, Any]  # state.json once committed
    engine_path: str | None
    min_fps: float
    window_s: float
    streams: int
    perf_interval_s: float
    gate_deadline_s: float
    commit_deadline_s: int
    keep_releases: int | None = 3  # None: nothing to prune (the host returns to a release it keeps)


@dataclass
class Outcome:
    result: str  # committed | rolled_back | rollback_failed | failed | unreachable
    reason: str = ""
    fps: float | None = None
    switched: bool = False
    restarted_at: float | None = None  # device epoch just before the restart
    gate: dict[str, Any] = field(default_factory=dict)


def activate(fleet: Fleet, targets: dict[str, Target], run_id: str, playbook: str = "push.yml",
             on_gate: Callable[[str, health.Verdict], None] | None = None,
             timings: dict[str, float] | None = None) -> dict[str, Outcome]:
    """Switch, gate, commit or revert every host of `targets`; each host's outcome.
    `timings` gets the seconds spent switching, gating and committing or reverting added."""
    clock = _Clock(timings if timings is not None else {})
    outcomes: dict[str, Outcome] = {}
    plan = {h: {"root": t.root, "release": t.release, "run_id": run_id,
                "deadline": confirm_window(t.commit_deadline_s, t.gate_deadline_s),
                "switch": {"switched": t.switch_doc, "reverted": t.revert_doc}}
            for h, t in targets.items()}
    switched: dict[str, tuple[float, dict[str, Any]]] = {}
    with clock("activate"):
        activated = fleet.step(playbook, "activate", list(targets), plan)
    for host, step in activated.items():
        out = step.stdout_json("switch current (commit-confirmed) and restart")
        if step.status == "unreachable":
            outcomes[host] = Outcome("unreachable", step.msg, switched=True)
        elif out.get("switched"):
            switched[host] = (float(out.get("since") or time.time()), out.get("unit") or {})
        else:
            outcomes[host] = Outcome("failed", out.get("error") or step.msg)
    with clock("gate"):
        verdicts = watch(fleet, {h: (s, u, targets[h], targets[h].engine_path) for h, (s, u) in switched.items()},
                         playbook, on_gate)
    passed = [h for h, v in verdicts.items() if isinstance(v, health.Verdict) and v.ok]
    for host, v in verdicts.items():
        if isinstance(v, str):
            outcomes[host] = Outcome("unreachable", v, switched=True, restarted_at=switched[host][0])
    if passed:
        commit_plan = {h: _commit_vars(targets[h], run_id) for h in passed}
        with clock("commit"):
            committed = fleet.step(playbook, "commit", passed, commit_plan)
        for host, step in committed.items():
            v = verdicts[host]
            fps = min(v.fps) if v.fps else None
            if step.status == "unreachable":
                outcomes[host] = Outcome("unreachable", f"lost before the commit: {step.msg}; the "
                                         "device reverts itself at its deadline", fps, True)
            elif step.stdout_json("commit the switch").get("committed"):
                outcomes[host] = Outcome("committed", v.reason, fps, True, switched[host][0])
            else:
                err = step.stdout_json("commit the switch").get("error") or step.msg
                outcomes[host] = Outcome("failed", f"commit refused: {err}", fps, True, switched[host][0])
    failed = {h: v for h, v in verdicts.items() if isinstance(v, health.Verdict) and not v.ok}
    with clock("revert"):
        outcomes.update(put_back(fleet, {h: targets[h] for h in failed}, run_id,
                                 {h: _gate_reason(v) for h, v in failed.items()}, playbook, on_gate))
    for host in outcomes:
        if host in switched:
            outcomes[host].restarted_at = outcomes[host].restarted_at or switched[host][0]
    return outcomes


def put_back(fleet: Fleet, targets: dict[str, Target], run_id: str, reasons: dict[str, str],
             playbook: str = "push.yml",
             on_gate: Callable[[str, health.Verdict], None] | None = None) -> dict[str, Outcome]:
    """Revert this run's uncommitted switch on each host and gate the release it returns to."""
    if not targets:
        return {}
    outcomes: dict[str, Outcome] = {}
    plan = {h: {"root": t.root, "run_id": run_id, "reason": reasons[h]} for h, t in targets.items()}
    watching: dict[str, Any] = {}
    for host, step in fleet.step(playbook, "revert", list(targets), plan).items():
        out = step.stdout_json("switch back and restart the release that ran before")
        if step.status == "unreachable":
            outcomes[host] = Outcome("unreachable", f"{reasons[host]}; then lost while switching back "
                                     "(the device reverts itself at its deadline)", switched=True)
        elif not out.get("reverted"):
            outcomes[host] = Outcome("rollback_failed", f"{reasons[host]}; switching back failed: "
                                     f"{out.get('error') or step.msg or 'the switch was no longer pending'}",
                                     switched=True)
        elif out.get("current") is None:
            outcomes[host] = Outcome("rolled_back", f"{reasons[host]}; no earlier release: app stopped",
                                     switched=True)
        else:
            watching[host] = (float(out.get("since") or time.time()), out.get("unit") or {},
                              targets[host], None)
    for host, v in watch(fleet, watching, playbook, on_gate).items():
        if isinstance(v, str):
            outcomes[host] = Outcome("unreachable", f"{reasons[host]}; then lost while verifying the old "
                                     f"release: {v}", switched=True)
        elif v.ok:
            outcomes[host] = Outcome("rolled_back", reasons[host], min(v.fps) if v.fps else None, True)
        else:
            outcomes[host] = Outcome("rollback_failed", f"{reasons[host]}; the release it went back to "
                                     f"fails too: {_gate_reason(v)}", switched=True)
    return outcomes


def watch(fleet: Fleet, hosts: dict[str, tuple[float, dict[str, Any], Target, str | None]],
          playbook: str, on_gate: Callable[[str, health.Verdict], None] | None) -> dict[str, Any]:
    """Look at the gate of every host until each has a final verdict or its deadline passed.

    Each look waits on the device (up to LOOK_S) for the next **PERF: line, due one
    interval after the last (or after the restart), so the workstation never sleeps and
    the verdict comes a moment after the line that decides it.
    Returns {host: Verdict} (a pending verdict at the deadline counts as failed) or, for a
    host that could not be read, {host: "why"}.
    """
    start = time.monotonic()
    todo = dict(hosts)
    looks = {h: Look(seen=0, due=since + t.perf_interval_s, wait=min(LOOK_S, t.gate_deadline_s))
             for h, (since, _, t, _) in hosts.items()}
    done: dict[str, Any] = {}
    while todo:
        plan = {h: {"root": t.root, "since": f"{since:.3f}", "invocation": before.get("InvocationID", ""),
                    "seen": looks[h].seen, "due": f"{looks[h].due:.3f}", "wait": f"{looks[h].wait:.3f}",
                    "timeout": math.ceil(looks[h].wait + LOOK_SLACK_S)}
                for h, (since, before, t, _) in todo.items()}
        for host, step in fleet.step(playbook, "gate", list(todo), plan).items():
            since, before, target, engine_path = todo[host]
            if not step.ok:
                done[host] = step.msg or step.status
                del todo[host]
                continue
            out = step.stdout_json("unit and journal since the restart")
            started = health.unit_from_mapping(before)
            journal = health.read_journal(out.get("journal", ""), pid=started.main_pid or None)
            v = health.verdict(journal, started,
                               health.unit_from_mapping(out.get("unit") or {}), target.min_fps,
                               target.window_s, target.streams, perf_interval_s=target.perf_interval_s,
                               engine_path=engine_path)
            if on_gate:
                on_gate(host, v)
            # On the device's clock (its journal's): a slow link delays the verdict, never fails it.
            device_now = float(out.get("now") or since)
            timed_out = device_now - since >= target.gate_deadline_s or \
                time.monotonic() - start >= 3 * target.gate_deadline_s + 60
            if not v.pending or timed_out:
                if v.pending:
                    v = health.Verdict(False, f"gate deadline ({target.gate_deadline_s:g} s) passed: {v.reason}",
                                       v.fps)
                if not v.ok and journal.errors:  # what the app said, for the operator
                    v = health.Verdict(False, f"{v.reason} (journal: {_clip(journal.errors[0])})", v.fps)
                done[host] = v
                del todo[host]
            else:
                looks[host] = next_look(journal, str(out.get("journal", "")), since, device_now, target)
    return done


@dataclass
class Look:
    """What the device waits for at the gate's next look: a **PERF: line beyond the `seen`
    first ones, not before `due` (device epoch), for at most `wait` seconds."""

    seen: int
    due: float
    wait: float


def next_look(journal: health.JournalReport, text: str, since: float, device_now: float, target: Target) -> Look:
    """The next look of a pending gate: the line after those in `text`, due one interval after
    the last (or after the restart before the first), waited for until the gate's deadline
    but never more than LOOK_S at a time (the live view hears from every look)."""
    last = journal.perf[-1].time if journal.perf else None
    due = (last if last is not None else since) + target.perf_interval_s
    left = since + target.gate_deadline_s - device_now
    return Look(seen=text.count("**PERF:"), due=due, wait=max(0.0, min(LOOK_S, left)))


def _commit_vars(target: Target, run_id: str) -> dict[str, Any]:
    out = {"root": target.root, "run_id": run_id, "commit": _stamped(target.commit_doc)}
    if target.keep_releases is not None:
        out["keep_releases"] = target.keep_releases
    return out


class _Clock:
    """`with clock("gate"):` adds the block's wall seconds to timings["gate"]."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - start


def _stamped(state_doc: dict[str, Any]) -> dict[str, Any]:
    """A state.json prepared before the gate, dated now (its newest history entry too)."""
    now = time.time()
    out = dict(state_doc, updated=now)
    if out.get("history"):
        out["history"] = [*out["history"][:-1], dict(out["history"][-1], time=now)]
    return out


def _clip(line: str, limit: int = 200) -> str:
    """A journal line without journalctl's short-unix prefix (time, host, process), cut short."""
    words = line.split(None, 3)
    text = words[3] if len(words) == 4 and words[0].replace(".", "").isdigit() else line
    return text[:limit]


def _gate_reason(v: health.Verdict) -> str:
    return f"health gate failed: {v.reason}"


def confirm_window(commit_deadline_s: float, gate_deadline_s: float) -> int:
    """The device's own deadline: never shorter than the gate plus the time to commit."""
    return int(max(commit_deadline_s, gate_deadline_s + 10))
