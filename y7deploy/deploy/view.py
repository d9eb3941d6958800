"""How a rollout shows itself while it runs: a live per-host table (rich) on a terminal,
plain timestamped lines otherwise, nothing with --json (the result is printed at the end).

push and rollback call `view.host(name, **fields)` (stage, bytes, build, fps, result,
reason) and `view.say(text)`; they never format anything themselves.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

# The stage a host is in once a task has answered (the engine build follows the upload).
STAGE_AFTER_TASK = {
    "facts and device state": "planned",
    "device helper": "upload",
    "release files and configs": "engine",
    "engine": "staged",
    "switch current (commit-confirmed) and restart": "gate",
    "commit the switch": "committed",
    "switch back and restart the release that ran before": "gate (old release)",
}


class NullView:
    """--json: nothing while it runs."""

    def host(self, name: str, **fields: Any) -> None:
        pass

    def say(self, text: str) -> None:
        pass

    def task(self, host: str, task: str, status: str, result: dict[str, Any]) -> None:
        """The fleet runner's per-task result, turned into the host's stage and figures."""
        fields: dict[str, Any] = {"stage": STAGE_AFTER_TASK.get(task)}
        if "bytes" in result:
            fields["bytes"] = result["bytes"]
        if result.get("action") in ("built", "copied", "present"):
            fields["build"] = result["action"] if result["action"] != "built" else \
                f"{result.get('build_seconds', 0):.1f} s"
        if status in ("failed", "unreachable"):
            fields["note"] = str(result.get("msg") or status)[:120]
        if any(v is not None for v in fields.values()):
            self.host(host, **fields)

    def close(self) -> None:
        pass


class PlainView(NullView):
    """One line per event, for logs and pipes; an event that repeats a host's last line
    (a second read of its state before the rollout, a gate still waiting) prints nothing."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.last: dict[str, str] = {}

    def host(self, name: str, **fields: Any) -> None:
        text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None and v != "")
        with self.lock:
            if self.last.get(name) == text:
                return
            self.last[name] = text
            self.out.write(f"{time.strftime('%H:%M:%S')} {name}: {text}\n")
            self.out.flush()

    def say(self, text: str) -> None:
        with self.lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {text}\n")
            self.out.flush()


class LiveView(NullView):
    """A table, one row per host, redrawn as events arrive (rich.live)."""

    COLUMNS = ("stage", "bytes", "build", "fps", "result", "note")

    def __init__(self, hosts: list[str]):
        from rich.console import Console
        from rich.live import Live

        self.rows: dict[str, dict[str, Any]] = {h: {} for h in hosts}
        self.started: dict[str, float] = {}
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.console = Console()
        self.live = Live(self._table(), console=self.console, refresh_per_second=4,
                         get_renderable=self._table)
        self.live.start()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        table.add_column("host")
        for col in self.COLUMNS:
            table.add_column(col, overflow="fold")
        with self.lock:
            for host, row in self.rows.items():
                cells = dict(row)
                if cells.get("stage") == "engine" and host in self.started and not cells.get("build"):
                    cells["build"] = f"{time.monotonic() - self.started[host]:.0f} s…"
                table.add_row(host, *[str(cells.get(c, "")) for c in self.COLUMNS])
        return table

    def host(self, name: str, **fields: Any) -> None:
        with self.lock:
            row = self.rows.setdefault(name, {})
            if fields.get("stage") != row.get("stage"):
                self.started[name] = time.monotonic()
            row.update({k: v for k, v in fields.items() if v is not None})

    def say(self, text: str) -> None:
        self.console.print(text)

    def close(self) -> None:
        self.live.stop()


def make_view(*, json_output: bool, hosts: list[str], out: TextIO | None = None) -> NullView:
    if json_output:
        return NullView()
    stream = out or sys.stdout
    if stream.isatty():
        return LiveView(hosts)
    return PlainView(stream)
