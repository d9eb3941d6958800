"""`y7deploy push RELEASE`: plan, then per wave stage, activate, gate, commit or revert; record.

Nothing is changed on any device until the plan holds for every host (refusals: exit 2).
A host already committed on the release is skipped; one left uncommitted by an earlier
run is reverted first. Within a device class the engine is built once (the class's
canary, in the first wave) and copied through the workstation to the others. A
config-only change (same release, other vars) goes into a slot of its own
(plan.slot_for) and is switched, gated, committed or reverted like a new release.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

from y7deploy.deploy import plan as planning
from y7deploy.deploy import state as dstate
from y7deploy.deploy.activate import Target, activate, confirm_window
from y7deploy.deploy.rollout import (
    Device, HostReport, Report, Request, apply_outcome, back_target, doc, gate_deadline, host_vars, read_devices,
    recorded,
)
from y7deploy.deploy.steps import Fleet
from y7deploy.deploy.view import NullView
from y7deploy.errors import UserError

ABORT_REASON = "put back: the rollout was aborted"


def find_bundle(release: str, releases_dir: str | Path) -> Any:
    """A bundle folder, or a release id under `releases_dir` (release.py checks it)."""
    from y7deploy.release import find_release, open_release

    if Path(release).is_dir():
        return open_release(release)
    return find_release(releases_dir, release)


def push(req: Request, release: str, releases_dir: str | Path = "releases", precision: str | None = None,
         view: NullView | None = None) -> Report:
    from y7deploy.fleet.inventory import load_inventory
    from y7deploy.fleet.patterns import select_hosts

    view = view or NullView()
    bundle = find_bundle(release, releases_dir)
    planning.parse_serial(req.serial)  # a bad --serial is bad input before any connection
    inventory = load_inventory(req.inventory)
    hosts = select_hosts(inventory, req.limit or "all")
    report = Report("push", bundle.id, None, check=req.check)
    fleet = Fleet(inventory, req.run, on_task=view.task)
    started = time.monotonic()
    try:
        devices, down = read_devices(fleet, hosts)
        for host, why in down.items():
            report.hosts[host] = HostReport(host, "unreachable", why, to_release=bundle.id)
        plan = _plan(bundle, devices, fleet, precision)
        report.timings["plan"] = time.monotonic() - started
        if not plan.ok:
            report.refusals = plan.refusals
            return report
        if req.check:
            _check(fleet, plan, devices, report, req.diff)
            return report
        recorded(req, report, _options(req, precision), lambda: _rollout(fleet, plan, devices, report, req, view),
                 started, fleet_redactor(plan))
        return report
    finally:
        fleet.close()


def fleet_redactor(plan: planning.Plan) -> Any:
    from y7deploy.fleet.redact import Redactor

    redactor = Redactor()
    for p in plan.hosts.values():
        for value in p.secrets:
            redactor.add_value(value)
    return redactor


def _options(req: Request, precision: str | None) -> dict[str, Any]:
    return {"limit": req.limit, "serial": req.serial, "max_fail_percentage": req.max_fail_percentage,
            "on_abort": req.on_abort, "precision": precision, "lock_timeout": req.lock_timeout}


def _plan(bundle: Any, devices: dict[str, Device], fleet: Fleet, precision: str | None) -> planning.Plan:
    facts = {h: d.facts for h, d in devices.items()}
    variables = {}
    for host, device in devices.items():
        hv = host_vars(fleet, host)
        if not hv.get("y7_parser_sha"):
            opencv = str(hv.get("deepstream_yolo_opencv") or "").lower() in ("1", "true", "yes", "on")
            hv["y7_parser_sha"] = device.parser_sha(planning.parser_cuda_ver(device.facts), opencv)
        variables[host] = hv
    held = {h: {"releases": d.releases, "engines": d.engines,
                "release_files": d.raw.get("release_files") or {}} for h, d in devices.items()}
    return planning.plan_push(bundle.manifest, planning.release_files(bundle.path), facts, variables,
                              planning.PushOptions(precision=precision), on_device=held,
                              templates=planning.Templates())


def _check(fleet: Fleet, plan: planning.Plan, devices: dict[str, Device], report: Report, diff: bool) -> None:
    """What each host would get: bytes uploaded, engine built or copied, configs (diffs), restart."""
    stage = {h: _stage_vars(p) for h, p in plan.hosts.items()}
    for host, step in fleet.step("push.yml", "stage", list(plan.hosts), stage, check=True, diff=diff).items():
        files = step.tasks.get("release files and configs", {})
        engine = step.tasks.get("engine", {})
        current = devices[host].current
        restart = current != plan.hosts[host].target or devices[host].state.uncommitted
        report.hosts[host] = HostReport(
            host, "would_change" if (restart or files.get("changed") or engine.get("changed")) else "unchanged",
            step.msg, current, plan.hosts[host].target, plan.hosts[host].engine_key, bytes_sent=int(files.get("bytes") or 0),
            engine=engine.get("action"),
            check={"upload_bytes": int(files.get("bytes") or 0), "upload": files.get("uploaded", []),
                   "link": files.get("linked", []), "render": files.get("rendered", []),
                   "diff": files.get("diff", []), "engine": engine.get("action"),
                   "engine_key": plan.hosts[host].engine_key, "restart": restart})


def _rollout(fleet: Fleet, plan: planning.Plan, devices: dict[str, Device], report: Report, req: Request,
             view: NullView) -> None:
    run_id = report.run_id or ""
    for host, p in plan.hosts.items():
        report.hosts[host] = HostReport(host, "untouched", "", devices[host].current, p.target, p.engine_key)
    # A host already committed on this release costs the one round trip of the plan, no lock.
    locked = _lock(fleet, [h for h in plan.hosts if not _done(plan.hosts[h], devices[h], report)],
                   req.lock_timeout, report, view)
    fresh, down = read_devices(fleet, locked)  # what the host holds now that nobody else may change it
    for host, why in down.items():
        _set(report, host, "unreachable", why)
    devices.update(fresh)
    _converge(fleet, {h: devices[h] for h in fresh}, run_id, report, view)
    todo = [h for h in fresh if not _done(plan.hosts[h], devices[h], report)]
    waves = [[h for h in wave if h in todo] for wave in plan.waves(req.serial)]
    waves = [w for w in waves if w]
    engines: dict[str, str] = {}  # device class -> local copy of its engine
    switched_by_run: list[str] = []
    for number, wave in enumerate(waves, 1):
        view.say(f"wave {number}/{len(waves)}: {', '.join(wave)}")
        for host in wave:
            report.hosts[host].wave = number
        start = time.monotonic()
        staged = _stage(fleet, plan, wave, engines, report, devices, run_id)
        _add(report.timings, "stage", time.monotonic() - start)
        _add(report.timings, "build", max((report.hosts[h].build_seconds or 0.0 for h in wave
                                           if report.hosts[h].engine == "built"), default=0.0))
        if staged:
            targets = {h: _target(plan.hosts[h], devices[h], run_id, host_vars(fleet, h)) for h in staged}
            for host, outcome in activate(fleet, targets, run_id, timings=report.timings,
                                          on_gate=lambda h, v: view.host(h, fps=_fps(v), note=v.reason[:80])).items():
                apply_outcome(report.hosts[host], outcome)
                if outcome.result == "committed":
                    switched_by_run.append(host)
                view.host(host, result=outcome.result, note=outcome.reason[:80])
        failed = [h for h in wave if report.hosts[h].result not in ("committed", "unchanged")]
        if planning.max_fail_exceeded(len(failed), len(wave), req.max_fail_percentage):
            report.aborted = True
            report.abort_reason = (f"wave {number}: {len(failed)} of {len(wave)} host(s) failed "
                                   f"({', '.join(failed)}), more than --max-fail-percentage "
                                   f"{req.max_fail_percentage:g}%")
            report.untouched = [h for w in waves[number:] for h in w]
            view.say(f"rollout stopped: {report.abort_reason}")
            if req.on_abort == "revert":
                _revert_run(fleet, switched_by_run, devices, run_id, report, view)
            return


def _lock(fleet: Fleet, hosts: list[str], timeout: float, report: Report, view: NullView) -> list[str]:
    held = []
    for host, why in fleet.lock(hosts, timeout).items():
        if why:
            _set(report, host, "busy" if why.startswith("busy") else "unreachable", why)
            view.host(host, result=report.hosts[host].result, note=why[:80])
        else:
            held.append(host)
    return held


def _converge(fleet: Fleet, devices: dict[str, Device], run_id: str, report: Report, view: NullView) -> None:
    """Revert the switches an earlier run left uncommitted, before anything else."""
    pending = {h: d for h, d in devices.items() if d.state.uncommitted}
    if not pending:
        return
    view.say(f"reverting switches an earlier run left uncommitted: {', '.join(pending)}")
    plan = {h: {"root": _root(fleet, h), "run_id": d.state.run_id or "", "reason":
                f"an earlier run ({d.state.run_id}) did not commit; reverted by {run_id}"}
            for h, d in pending.items()}
    fleet.step("push.yml", "revert", list(pending), plan)
    fresh, down = read_devices(fleet, list(pending))
    devices.update(fresh)
    for host, why in down.items():
        _set(report, host, "unreachable", why)


def _done(p: planning.HostPlan, device: Device, report: Report) -> bool:
    """Committed on this release with its engine: nothing to do (one round trip was enough)."""
    st = device.state
    if report.hosts[p.host].result != "untouched":
        return True  # busy or unreachable: not ours to touch
    on_disk = device.raw.get("current_configs") or {}
    same_configs = all(on_disk.get(r.name) == hashlib.sha256(r.content.encode()).hexdigest() for r in p.rendered)
    if st.state in ("committed", "rolled_back", "staged") and device.current == p.target \
            and p.engine_key in device.engines and same_configs \
            and device.raw.get("unit", {}).get("ActiveState") == "active":
        report.hosts[p.host].result = "unchanged"
        report.hosts[p.host].reason = f"already on {p.target}"
        return True
    return False


def _stage(fleet: Fleet, plan: planning.Plan, wave: list[str], engines: dict[str, str],
           report: Report, devices: dict[str, Device], run_id: str) -> list[str]:
    """Upload, render and build (or copy) on every host of the wave; the hosts ready to switch."""
    stage = {}
    for host in wave:
        p = plan.hosts[host]
        stage[host] = _stage_vars(p)
        staged = dstate.staged(devices[host].state, p.target, run_id, p.engine_key, time.time())
        devices[host] = dataclasses.replace(devices[host], state=staged)
        stage[host]["staged"] = doc(staged)
        if p.device_class in engines:
            stage[host]["engine"]["src"] = engines[p.device_class]
    ready = []
    for host, step in fleet.step("push.yml", "stage", wave, stage).items():
        r = report.hosts[host]
        files, engine = step.tasks.get("release files and configs", {}), step.tasks.get("engine", {})
        r.bytes_sent = int(files.get("bytes") or 0)
        r.engine = engine.get("action")
        r.build_seconds = engine.get("build_seconds")
        if step.ok:
            ready.append(host)
            continue
        r.result = "unreachable" if step.status == "unreachable" else "failed"
        r.reason = f"{step.msg}; still on {r.from_release or 'nothing'}"
    for host in ready:
        p = plan.hosts[host]
        others_left = any(h not in wave for h in plan.classes.get(p.device_class, []))
        if p.device_class not in engines and others_left:
            engines[p.device_class] = _fetch_engine(fleet, host, p)
    return ready


def _stage_vars(p: planning.HostPlan) -> dict[str, Any]:
    """push.yml's `p`. The engine key travels as `name`: a variable called key is taken for
    a secret by the runner's redactor, which would mask every engine path in the output."""
    out = p.to_vars()
    out["engine"] = {("name" if k == "key" else k): v for k, v in out["engine"].items()}
    return out


def _fetch_engine(fleet: Fleet, host: str, p: planning.HostPlan) -> str:
    """The class's engine on the workstation (cache dir), to copy to the rest of the class."""
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "y7deploy" / "engines"
    cache.mkdir(parents=True, exist_ok=True)
    local = cache / f"{p.engine_key}.engine"
    if not local.exists():
        fleet.conns[host].get(p.engine_path, local, sudo=True)
    return str(local)


def _target(p: planning.HostPlan, device: Device, run_id: str, hv: dict[str, Any]) -> Target:
    now = time.time()
    gate_s = gate_deadline(hv, p.health_window_s, p.perf_interval_s)
    deadline = confirm_window(p.commit_deadline_s, gate_s)
    switched = dstate.switched(device.state, p.target, run_id, p.engine_key, now + deadline, now)
    reverted = dstate.rolled_back(switched, run_id, now, "the switch was not committed", device.state.engine_key)
    return Target(release=p.target, root=p.root, switch_doc=doc(switched), revert_doc=doc(reverted),
                  commit_doc=doc(dstate.committed(switched, run_id, now)), engine_path=p.engine_path,
                  min_fps=p.min_fps, window_s=p.health_window_s, streams=p.n_streams,
                  perf_interval_s=p.perf_interval_s, gate_deadline_s=gate_s,
                  commit_deadline_s=int(deadline), keep_releases=p.keep_releases)


def _revert_run(fleet: Fleet, hosts: list[str], devices: dict[str, Device], run_id: str, report: Report,
                view: NullView) -> None:
    """--on-abort revert: hosts this run committed go back to what they ran before it."""
    back = {h: report.hosts[h].from_release for h in hosts}
    back = {h: r for h, r in back.items() if r}
    if not back:
        return
    view.say(f"putting back {', '.join(back)}")
    fresh, down = read_devices(fleet, list(back))
    for host, why in down.items():
        _set(report, host, "unreachable", f"could not be put back: {why}")
    targets = {h: back_target(h, fresh[h], back[h], run_id, host_vars(fleet, h), ABORT_REASON, _root(fleet, h))
               for h in fresh}
    for host, outcome in activate(fleet, targets, run_id).items():
        r = report.hosts[host]
        if outcome.result == "committed":
            r.result, r.reason = "reverted", ABORT_REASON
        elif outcome.result == "rolled_back":  # the put-back failed its gate and went back again
            r.result = "failed"
            r.reason = (f"{ABORT_REASON}, but {back[host]} failed the gate there, so the host runs "
                        f"{r.to_release} again: {outcome.reason}")
        else:
            r.result, r.reason = outcome.result, f"{ABORT_REASON}; {outcome.reason}"


def _root(fleet: Fleet, host: str) -> str:
    return str(host_vars(fleet, host).get("y7_root") or planning.ROOT)


def _add(timings: dict[str, float], name: str, seconds: float) -> None:
    timings[name] = timings.get(name, 0.0) + seconds


def _set(report: Report, host: str, result: str, reason: str) -> None:
    r = report.hosts.setdefault(host, HostReport(host, result))
    r.result, r.reason = result, reason


def _fps(v: Any) -> str:
    return f"{min(v.fps):.1f}" if v.fps else ""
