"""`y7deploy rollback [--to ID]`: back to `previous` (or a kept release), the same
commit-confirmed switch and gate as push, and never a trtexec call: the release returned
to kept its engine. One wave unless --serial is given.

A host that does not keep the release asked for is refused, with the reason, before any
host is changed (exit 2).
"""

from __future__ import annotations

import time

from y7deploy.deploy import plan as planning
from y7deploy.deploy.activate import activate
from y7deploy.deploy.rollout import (
    HostReport, Report, Request, back_target, host_vars, read_devices, recorded,
)
from y7deploy.deploy.steps import Fleet
from y7deploy.deploy.view import NullView


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
        devices, down = read_devices(fleet, hosts)
        for host, why in down.items():
            report.hosts[host] = HostReport(host, "unreachable", why)
        goals: dict[str, str] = {}
        for host, device in devices.items():
            goal = to or device.state.previous or device.raw.get("previous")
            if device.state.uncommitted:
                report.refusals.append((host, f"a switch to {device.current} (run {device.state.run_id}) is not "
                                              "committed yet: run the push again, or wait for the device's "
                                              "deadline to revert it"))
            elif not goal:
                report.refusals.append((host, "no previous release to roll back to"))
            elif goal not in device.releases:
                kept = ", ".join(device.releases) or "none"
                report.refusals.append((host, f"release {goal} is not kept on this host (kept: {kept})"))
            elif goal == device.current:
                report.hosts[host] = HostReport(host, "unchanged", f"already on {goal}", goal, goal)
            else:
                goals[host] = goal
                report.hosts[host] = HostReport(host, "untouched", "", device.current, goal,
                                                (device.raw.get("release_engines") or {}).get(goal))
        if report.refusals or req.check or not goals:
            for host in goals:
                report.hosts[host].result = "would_change" if req.check and not report.refusals else "untouched"
            return report
        recorded(req, report, {"limit": req.limit, "to": to, "serial": req.serial},
                 lambda: _waves(fleet, goals, devices, report, req, view), started)
        return report
    finally:
        fleet.close()


def _waves(fleet: Fleet, goals: dict[str, str], devices: dict, report: Report, req: Request,
           view: NullView) -> None:
    from y7deploy.fleet.waves import batches

    run_id = report.run_id or ""
    start = time.monotonic()
    held = [h for h, why in fleet.lock(list(goals), req.lock_timeout).items() if not why or _busy(report, h, why)]
    fresh, down = read_devices(fleet, held)
    report.timings["lock"] = time.monotonic() - start
    for host, why in down.items():
        report.hosts[host].result, report.hosts[host].reason = "unreachable", why
    order = [h for h in goals if h in fresh]
    waves = batches(order, planning.parse_serial(req.serial)) if req.serial else [order]
    for number, wave in enumerate(waves, 1):
        view.say(f"wave {number}/{len(waves)}: {', '.join(wave)}")
        targets = {h: back_target(h, fresh[h], goals[h], run_id, host_vars(fleet, h), f"rollback to {goals[h]}",
                                  str(host_vars(fleet, h).get("y7_root") or planning.ROOT)) for h in wave}
        for host, outcome in activate(fleet, targets, run_id, timings=report.timings).items():
            r = report.hosts[host]
            r.wave = number
            r.result = "rolled_back" if outcome.result == "committed" else outcome.result
            r.reason, r.fps = (f"rolled back to {goals[host]}" if outcome.result == "committed"
                               else outcome.reason), outcome.fps
            view.host(host, result=r.result, note=r.reason[:80])
        failed = [h for h in wave if report.hosts[h].result != "rolled_back"]
        if planning.max_fail_exceeded(len(failed), len(wave), req.max_fail_percentage):
            report.aborted = True
            report.abort_reason = f"wave {number}: {len(failed)} of {len(wave)} host(s) failed ({', '.join(failed)})"
            report.untouched = [h for w in waves[number:] for h in w]
            return


def _busy(report: Report, host: str, why: str) -> bool:
    report.hosts[host].result = "busy" if why.startswith("busy") else "unreachable"
    report.hosts[host].reason = why
    return False
