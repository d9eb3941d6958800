"""`y7deploy rollback [--to ID]`: back to `previous` (or a kept release), the same
commit-confirmed switch and gate as push (playbooks/rollback.yml), and never a trtexec
call: the release returned to kept its engine. One wave unless --serial is given.

Per host, one command takes the device's lock and reads its state under it; a host that
does not keep the release asked for, or holds a switch not yet committed, is refused, with
the reason, before any host is changed (exit 2). Then per wave: switch and restart (one
command), the gate, commit (one command).
"""

from __future__ import annotations

import shlex
import time

from y7deploy.deploy import plan as planning
from y7deploy.deploy.activate import activate
from y7deploy.deploy.rollout import (
    Device, HostReport, Report, Request, back_target, device, host_vars, recorded,
)
from y7deploy.deploy.steps import Fleet
from y7deploy.deploy.view import NullView

PLAYBOOK = "rollback.yml"
UNIT = "y7deploy-app.service"


def rollback(req: Request, to: str | None = None, view: NullView | None = None) -> Report:
    from y7deploy.fleet.inventory import load_inventory
    from y7deploy.fleet.patterns import select_hosts

    view = view or NullView()
    planning.parse_serial(req.serial)
    inventory = load_inventory(req.inventory)
    hosts = select_hosts(inventory, req.limit or "all")
    report = Report("rollback", to, None, check=req.check)
    fleet = Fleet(inventory, req.run, on_task=view.task)
    started = time.monotonic()
    try:
        roots = {h: str(host_vars(fleet, h).get("y7_root") or planning.ROOT) for h in hosts}
        devices, down = _read(fleet, roots, req.lock_timeout, lock=not req.check)
        report.timings["lock"] = time.monotonic() - started
        for host, why in down.items():
            report.hosts[host] = HostReport(host, "busy" if why.startswith("busy") else "unreachable", why)
            view.host(host, result=report.hosts[host].result, note=why[:80])
        goals = _goals(devices, to, report)
        if report.refusals or req.check or not goals:
            for host in goals:
                report.hosts[host].result = "would_change" if req.check and not report.refusals else "untouched"
            return report
        recorded(req, report, {"limit": req.limit, "to": to, "serial": req.serial},
                 lambda: _waves(fleet, goals, devices, roots, report, req, view), started)
        return report
    finally:
        fleet.close()


def _read(fleet: Fleet, roots: dict[str, str], timeout: float, lock: bool) -> tuple[dict[str, Device], dict[str, str]]:
    """Each host's y7deploy state (deploy_facts' reading, without the Jetson facts: nothing
    is planned), read under its lock in the command that takes it. --check takes no lock: it
    waits for nobody and holds nobody up."""
    from y7deploy.fleet.modules.deploy_facts import PROPS, STATE_SCRIPT, parse_state

    def script(root: str) -> str:
        return STATE_SCRIPT.format(root=shlex.quote(root), unit=UNIT, props=PROPS)

    said, down = fleet.lock_and_read(roots, timeout, script, lock=lock)
    return {h: device(h, parse_state(text.rpartition("@@y7state\n")[2])) for h, text in said.items()}, down


def _goals(devices: dict[str, Device], to: str | None, report: Report) -> dict[str, str]:
    """{host: the release it goes back to}; every other host is refused or unchanged in `report`."""
    goals: dict[str, str] = {}
    for host, d in devices.items():
        goal = kept_as(to, d.releases) if to else d.state.previous or d.raw.get("previous")
        if d.state.uncommitted:
            report.refusals.append((host, f"a switch to {d.current} (run {d.state.run_id}) is not "
                                          "committed yet: run the push again, or wait for the device's "
                                          "deadline to revert it"))
        elif not goal:
            report.refusals.append((host, "no previous release to roll back to"))
        elif goal not in d.releases:
            kept = ", ".join(d.releases) or "none"
            report.refusals.append((host, f"release {goal} is not kept on this host (kept: {kept})"))
        elif goal == d.current:
            report.hosts[host] = HostReport(host, "unchanged", f"already on {goal}", goal, goal)
        else:
            goals[host] = goal
            report.hosts[host] = HostReport(host, "untouched", "", d.current, goal,
                                            (d.raw.get("release_engines") or {}).get(goal))
    return goals


def kept_as(release: str, kept: list[str]) -> str:
    """The directory `--to RELEASE` means on a host: the release itself, or its one config slot
    (RELEASE@cfg-...) where only that is kept; otherwise RELEASE (refused as not kept)."""
    if release in kept:
        return release
    slots = [k for k in kept if planning.release_of_slot(k) == release]
    return slots[0] if len(slots) == 1 else release


def _waves(fleet: Fleet, goals: dict[str, str], devices: dict[str, Device], roots: dict[str, str],
           report: Report, req: Request, view: NullView) -> None:
    from y7deploy.fleet.waves import batches

    run_id = report.run_id or ""
    order = list(goals)
    waves = batches(order, planning.parse_serial(req.serial)) if req.serial else [order]
    for number, wave in enumerate(waves, 1):
        view.say(f"wave {number}/{len(waves)}: {', '.join(wave)}")
        targets = {h: back_target(h, devices[h], goals[h], run_id, host_vars(fleet, h), f"rollback to {goals[h]}",
                                  roots[h]) for h in wave}
        outcomes = activate(fleet, targets, run_id, PLAYBOOK, timings=report.timings,
                            on_gate=lambda h, v: view.host(h, fps=f"{min(v.fps):.1f}" if v.fps else "",
                                                           note=v.reason[:80]))
        for host, outcome in outcomes.items():
            r = report.hosts[host]
            r.wave, r.fps = number, outcome.fps
            if outcome.result == "committed":
                r.result, r.reason = "rolled_back", f"rolled back to {goals[host]}"
            elif outcome.result == "rolled_back":  # its gate failed: switched back to what it ran
                r.result, r.reason = "failed", f"{outcome.reason}; back on {r.from_release}"
            else:
                r.result, r.reason = outcome.result, outcome.reason
            view.host(host, result=r.result, note=r.reason[:80])
        failed = [h for h in wave if report.hosts[h].result != "rolled_back"]
        if planning.max_fail_exceeded(len(failed), len(wave), req.max_fail_percentage):
            report.aborted = True
            report.abort_reason = f"wave {number}: {len(failed)} of {len(wave)} host(s) failed ({', '.join(failed)})"
            report.untouched = [h for w in waves[number:] for h in w]
            view.say(f"rollback stopped: {report.abort_reason}")
            return
