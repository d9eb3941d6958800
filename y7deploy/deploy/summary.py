"""A run's report, the history and the status as the lines and tables an operator reads."""

from __future__ import annotations

import sys
from typing import Any, Iterator

from y7deploy.deploy.rollout import Report

LOUD = {"rollback_failed"}


def summary_lines(report: Report) -> Iterator[str]:
    """One line per host, then the run's verdict; refusals as `error:` lines (stderr)."""
    if report.refusals:
        for host, reason in report.refusals:
            yield f"error: {host}: {reason}"
        yield f"error: {report.kind} refused: nothing was changed on any host"
        return
    verb = "would" if report.check else ""
    for host, r in report.hosts.items():
        if report.check:
            c = r.check
            if c:
                parts = [f"upload {c.get('upload_bytes', 0)} bytes" + (f" ({', '.join(c['upload'])})" if c.get("upload") else ""),
                         f"engine {c.get('engine')} {c.get('engine_key')}",
                         f"render {', '.join(c.get('render') or []) or 'nothing'}",
                         "restart the app" if c.get("restart") else "no restart"]
                yield f"{host}: {verb} " + "; ".join(parts)
                for d in c.get("diff") or []:
                    yield d.rstrip("\n")
            else:
                yield f"{host}: {r.result} {r.reason}".rstrip()
            continue
        figures = []
        if r.from_release != r.to_release:
            figures.append(f"{r.from_release or '-'} -> {r.to_release or '-'}")
        if r.engine:
            figures.append(f"engine {r.engine}" + (f" in {r.build_seconds:.1f} s" if r.engine == "built" and r.build_seconds else ""))
        if r.bytes_sent:
            figures.append(f"{r.bytes_sent} bytes sent")
        if r.fps is not None:
            figures.append(f"{r.fps:.1f} FPS")
        mark = "!!! " if r.result in LOUD else ""
        yield f"{mark}{host}: {r.result.upper() if mark else r.result}" + \
            (f" ({', '.join(figures)})" if figures else "") + (f": {r.reason}" if r.reason else "")
    if report.aborted:
        yield f"rollout stopped: {report.abort_reason}"
        if report.untouched:
            yield f"untouched: {', '.join(report.untouched)}"
    counts: dict[str, int] = {}
    for r in report.hosts.values():
        counts[r.result] = counts.get(r.result, 0) + 1
    yield f"{report.kind} {report.release or ''} run {report.run_id or '-'}: " + \
        ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" (exit {report.exit_code})"


def history_lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    for r in rows:
        figures = [f for f in (f"engine {r['engine_key']}" if r.get("engine_key") else "",
                               f"built in {r['build_seconds']:.1f} s" if r.get("build_seconds") else "",
                               f"{r['fps']:.1f} FPS" if r.get("fps") is not None else "") if f]
        yield (f"{r['time']}  {r['run_id']}  {r['kind']:<8} {r['host']:<16} {r.get('from_release') or '-'} -> "
               f"{r.get('to_release') or '-'}  {r['result']}" + (f" ({', '.join(figures)})" if figures else "")
               + (f": {r['reason']}" if r.get("reason") else "") + f"  [{r.get('operator') or ''}]")


def status_table(rows: dict[str, dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = ("current", "previous", "state", "unit", "uptime", "restarts", "fps", "engine_key", "jetpack",
            "deepstream", "last", "drift")
    table = Table(box=None)
    table.add_column("host")
    for c in cols:
        table.add_column(c, overflow="fold")
    for host, row in rows.items():
        if row.get("error"):
            table.add_row(host, f"[red]{row['error']}[/]", *[""] * (len(cols) - 1))
            continue
        table.add_row(host, *[str(row.get(c) if row.get(c) is not None else "") for c in cols])
    Console(width=None if sys.stdout.isatty() else 220).print(table)
