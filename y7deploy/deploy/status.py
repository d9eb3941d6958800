"""`status`, `logs`, `app`, `history`: the fleet as its devices tell it, and the ledger.

status reads every device (facts, state.json, the unit, the journal's last PERF line) and
flags a host whose device differs from what the ledger last recorded for it (drift).
"""

from __future__ import annotations

import time
from typing import Any, TextIO

from y7deploy.deploy import health
from y7deploy.deploy import plan as planning
from y7deploy.deploy.rollout import ledger_file, read_devices
from y7deploy.deploy.steps import Fleet
from y7deploy.fleet.runner import RunOptions

APP_STATES = {"start": "started", "stop": "stopped", "restart": "restarted"}
TAIL_LINES = 60


def _fleet(inventory: list[str], run: RunOptions) -> tuple[Fleet, list[str]]:
    from y7deploy.fleet.inventory import load_inventory
    from y7deploy.fleet.patterns import select_hosts

    inv = load_inventory(inventory)
    return Fleet(inv, run), select_hosts(inv, run.limit or "all")


def _root(fleet: Fleet, host: str) -> str:
    return str(fleet.inventory.host_vars(host).get("y7_root") or planning.ROOT)


def status(inventory: list[str], run: RunOptions, ledger: str | None = None) -> dict[str, dict[str, Any]]:
    """{host: row}; a row has `error` when the host could not be read."""
    from y7deploy.deploy.ledger import Ledger

    fleet, hosts = _fleet(inventory, run)
    rows: dict[str, dict[str, Any]] = {}
    try:
        devices, down = read_devices(fleet, hosts)
        tails = fleet.step("push.yml", "status", list(devices),
                           {h: {"root": _root(fleet, h), "lines": TAIL_LINES} for h in devices})
    finally:
        fleet.close()
    path = ledger_file(ledger, inventory)
    book = Ledger(path) if path.exists() else None
    for host in hosts:
        if host in down:
            rows[host] = {"error": f"unreachable: {down[host]}"}
            continue
        d = devices[host]
        tail = tails[host].stdout_json("unit and journal tail")
        unit = tail.get("unit") or d.raw.get("unit") or {}
        report = health.read_journal(tail.get("journal", ""))
        last = d.state.history[-1] if d.state.history else {}
        row = {
            "current": d.current, "previous": d.raw.get("previous"),
            "state": {"switched": "uncommitted", "rolled_back": "rolled back"}.get(d.state.state, d.state.state)
            if d.current or d.state.history else "never deployed",
            "unit": f"{unit.get('ActiveState', '?')}/{unit.get('SubState', '?')}",
            "uptime": _uptime(unit, tail.get("now")),
            "restarts": int(unit.get("NRestarts") or 0),
            "fps": min(report.last_fps) if report.last_fps else None,
            "engine_key": d.state.engine_key, "jetpack": d.facts.get("jetpack"),
            "deepstream": d.facts.get("deepstream"),
            "last": f"{last.get('action')} {last.get('release') or ''}: {last.get('result')}"
            + (f" ({last['reason']})" if last.get("reason") else "") if last else "",
            "releases": d.releases, "run_id": d.state.run_id,
        }
        row["drift"] = _drift(book, host, d.current, d.state.run_id) if book else ""
        rows[host] = row
    return rows


def _uptime(unit: dict[str, Any], now: Any) -> str:
    stamp = str(unit.get("ActiveEnterTimestamp") or "")
    if unit.get("ActiveState") != "active" or not stamp:
        return ""
    try:
        started = time.mktime(time.strptime(" ".join(stamp.split()[1:3]), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return ""
    seconds = max(0, int(float(now or time.time()) - started))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _drift(book: Any, host: str, current: str | None, run_id: str | None) -> str:
    """What the ledger last recorded for the host, when the device says otherwise."""
    last = book.last_for_host(host)
    if last is None:
        return "not in the ledger" if current else ""
    arrived = {"committed", "unchanged"} | ({"rolled_back"} if last["kind"] == "rollback" else set())
    expected = last["to_release"] if last["result"] in arrived else last["from_release"]
    if expected != current:
        return f"ledger says {expected or 'nothing'} (run {last['run_id']}: {last['result']}), device runs {current or 'nothing'}"
    return ""


def history_rows(ledger: str | None, inventory: str | None, host: str | None) -> list[dict[str, Any]]:
    from y7deploy.deploy.ledger import Ledger

    path = ledger_file(ledger, inventory)
    return Ledger(path).history(host) if path.exists() else []


def app(inventory: list[str], run: RunOptions, action: str) -> dict[str, dict[str, Any]]:
    fleet, hosts = _fleet(inventory, run)
    rows: dict[str, dict[str, Any]] = {}
    try:
        if action != "status":
            for host, step in fleet.step("push.yml", "app", hosts,
                                         {h: {"state": APP_STATES[action]} for h in hosts}).items():
                if not step.ok:
                    rows[host] = {"error": step.msg or step.status}
        left = [h for h in hosts if h not in rows]
        for host, step in fleet.step("push.yml", "status", left,
                                     {h: {"root": _root(fleet, h), "lines": 1} for h in left}).items():
            unit = step.stdout_json("unit and journal tail").get("unit") or {}
            rows[host] = {"error": step.msg or step.status} if not step.ok else \
                {"state": f"{unit.get('ActiveState', '?')}/{unit.get('SubState', '?')}",
                 "restarts": int(unit.get("NRestarts") or 0)}
    finally:
        fleet.close()
    return {h: rows[h] for h in hosts}


def logs(inventory: list[str], run: RunOptions, host: str, lines: int, follow: bool, out: TextIO) -> int:
    """The app's journal on one host (streamed with -f until interrupted); the exit code."""
    from y7deploy.errors import UserError

    fleet, hosts = _fleet(inventory, run)
    if hosts != [host]:
        raise UserError(f"logs: {host!r} is not one host of the inventory")
    try:
        conn = fleet._connect(host, fleet.inventory.host_vars(host))
        command = f"journalctl -u y7deploy-app.service -n {int(lines)} --no-pager -o short-iso" + (" -f" if follow else "")
        running = conn.start(command, sudo=True)
        chan = running.chan
        try:
            while True:
                if chan.recv_ready():
                    out.write(chan.recv(65536).decode("utf-8", "replace"))
                    out.flush()
                elif chan.exit_status_ready() and not chan.recv_ready():
                    return 0 if chan.recv_exit_status() == 0 else 3
                else:
                    time.sleep(0.1)
        except KeyboardInterrupt:
            chan.close()
            return 0
    except Exception as exc:  # noqa: BLE001 - an unreachable host is one line, exit 3
        out.write(f"{host}: unreachable: {exc}\n")
        return 3
    finally:
        fleet.close()
