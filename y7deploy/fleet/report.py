"""How a run looks: Ansible's lines (PLAY, TASK, ok/changed/fatal, PLAY RECAP) for logs and
pipes, a live per-host table on an interactive terminal, or one JSON document (--json).

Reporters receive results already redacted by the runner; they only format. Anything with
the Reporter protocol's methods can watch a run (a ledger beside the console: `Tee`).
"""

from __future__ import annotations

import difflib
import json
import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from y7deploy.fleet.record import RunResult


class Reporter(Protocol):
    """What the runner tells whoever watches a run, in order: run_start once, then per play
    play_start, per task task_start and one host_result per host, and recap at the end."""

    def run_start(self, hosts: list[str]) -> None: ...

    def play_start(self, name: str) -> None: ...

    def task_start(self, title: str, handler: bool = False) -> None: ...

    def message(self, text: str) -> None: ...

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None: ...

    def recap(self, run: "RunResult") -> None: ...


class Silent:
    """A reporter that shows nothing; subclass it to hear only some events."""

    def run_start(self, hosts: list[str]) -> None:
        pass

    def play_start(self, name: str) -> None:
        pass

    def task_start(self, title: str, handler: bool = False) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        pass

    def recap(self, run: "RunResult") -> None:
        pass


class Tee:
    """Several reporters as one (the console and a ledger, say), each told every event in turn."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def run_start(self, hosts: list[str]) -> None:
        for r in self.reporters:
            run_start = getattr(r, "run_start", None)  # reporters written before the hook existed
            if run_start is not None:
                run_start(hosts)

    def play_start(self, name: str) -> None:
        for r in self.reporters:
            r.play_start(name)

    def task_start(self, title: str, handler: bool = False) -> None:
        for r in self.reporters:
            r.task_start(title, handler)

    def message(self, text: str) -> None:
        for r in self.reporters:
            r.message(text)

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        for r in self.reporters:
            r.host_result(host, status, result, ignored=ignored, diff=diff, module=module)

    def recap(self, run: "RunResult") -> None:
        for r in self.reporters:
            r.recap(run)


class Collector(Silent):
    """Keeps each host's last result (or why there is none): for ad-hoc tables and --json."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        if status in ("ok", "changed"):
            self.results[host] = {k: v for k, v in result.items() if k != "changed"}
        else:
            self.results[host] = {"error": status, "msg": result.get("msg", "")}

BANNER_WIDTH = 80


def banner(text: str) -> str:
    return f"{text} " + "*" * max(3, BANNER_WIDTH - len(text) - 1)


def recap_line(host: str, s: Any) -> str:
    """Ansible's PLAY RECAP line, byte for byte (uncoloured)."""
    fields = [("ok", s.ok), ("changed", s.changed), ("unreachable", s.unreachable),
              ("failed", s.failed), ("skipped", s.skipped), ("rescued", s.rescued),
              ("ignored", s.ignored)]
    return "%-26s : %s" % (host, " ".join("%s=%-4s" % (k, v) for k, v in fields))


def unified_diff(diff: dict[str, Any]) -> str:
    """A module's before/after as the unified diff Ansible's --diff prints."""
    if diff.get("binary"):
        return f"Binary file {diff.get('before_header', '')} would be replaced\n"
    before, after = diff.get("before", ""), diff.get("after", "")
    if isinstance(before, dict) or isinstance(after, dict):
        lines = ["--- before\n+++ after\n"]
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                lines.append(f"-    \"{key}\": \"{before.get(key)}\"\n+    \"{key}\": \"{after.get(key)}\"\n")
        return "".join(lines)
    text = "".join(difflib.unified_diff(
        str(before).splitlines(True), str(after).splitlines(True),
        fromfile=f"before: {diff.get('before_header', '')}",
        tofile=f"after: {diff.get('after_header', '')}"))
    return text if text.endswith("\n") or not text else text + "\n"


def _json(value: Any) -> str:
    return json.dumps(value, indent=4, sort_keys=True, default=str)


_HIDDEN = {"changed", "failed", "skipped", "diff", "invocation", "stdout_lines", "stderr_lines"}


class PlainReporter(Silent):
    """Ansible's default output, uncoloured, one line per host per task."""

    def __init__(self, out: TextIO | None = None, verbose: bool = False):
        self.out = out or sys.stdout
        self.verbose = verbose

    def _print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def play_start(self, name: str) -> None:
        self._print()
        self._print(banner(f"PLAY [{name}]"))

    def task_start(self, title: str, handler: bool = False) -> None:
        self._print()
        self._print(banner(f"{'RUNNING HANDLER' if handler else 'TASK'} [{title}]"))

    def message(self, text: str) -> None:
        self._print(text)

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        if diff:
            for d in _diffs(result):
                self._print(unified_diff(d).rstrip("\n"))
        items = result.get("results") if isinstance(result.get("results"), list) else None
        if items and all(isinstance(r, dict) and "ansible_loop_var" in r for r in items):
            self._items(host, items, module)
            if status in ("ok", "changed", "skipped"):
                return
        if status == "unreachable":
            self._print(f"fatal: [{host}]: UNREACHABLE! => {_json(_brief(result))}")
        elif status == "failed":
            self._print(f"fatal: [{host}]: FAILED! => {_json(_brief(result))}")
            if ignored:
                self._print("...ignoring")
        elif status == "skipped":
            self._print(f"skipping: [{host}]")
        else:
            label = "changed" if status == "changed" else "ok"
            extra = _shown_fields(result, module)
            self._print(f"{label}: [{host}]" + (f" => {_json(extra)}" if extra else ""))

    def _items(self, host: str, items: list[dict[str, Any]], module: str | None) -> None:
        """One line per loop item, as Ansible prints them: `changed: [host] => (item=a)`."""
        for r in items:
            label = r.get("_ansible_item_label", r.get(r["ansible_loop_var"]))
            if r.get("failed"):
                self._print(f"failed: [{host}] (item={label}) => {_json(_brief(r))}")
            elif r.get("skipped"):
                self._print(f"skipping: [{host}] => (item={label})")
            else:
                shown = {k: v for k, v in _shown_fields(r, module).items()
                         if k not in ("ansible_loop_var", r["ansible_loop_var"], "_ansible_item_label")}
                self._print(f"{'changed' if r.get('changed') else 'ok'}: [{host}] => (item={label})"
                            + (f" => {_json(shown)}" if shown else ""))

    def recap(self, run: Any) -> None:
        self._print()
        self._print(banner("PLAY RECAP"))
        for host in sorted(run.stats):
            self._print(recap_line(host, run.stats[host]))
        if run.aborted:
            self._print()
            self._print(f"ROLLOUT ABORTED: {run.abort_reason}")
            if run.untouched:
                self._print(f"hosts not reached (left untouched): {', '.join(run.untouched)}")
        self._print()


def _diffs(result: dict[str, Any]) -> list[dict[str, Any]]:
    found = [result["diff"]] if isinstance(result.get("diff"), dict) else []
    for item in result.get("results", []) or []:
        if isinstance(item, dict) and isinstance(item.get("diff"), dict):
            found.append(item["diff"])
    return found


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("diff", "stdout_lines", "stderr_lines")}


def _shown_fields(result: dict[str, Any], module: str | None) -> dict[str, Any]:
    """What an ok/changed line shows after `=>`: a debug's message or variable, a censoring."""
    if "censored" in result:
        return {"censored": result["censored"]}
    if module == "debug":
        return {k: v for k, v in result.items() if k not in _HIDDEN}
    return {}


class JsonReporter(Silent):
    """Silent while running; one JSON document at the end (plays, tasks, per-host results, stats)."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.messages: list[str] = []

    def play_start(self, name: str) -> None:
        pass

    def task_start(self, title: str, handler: bool = False) -> None:
        pass

    def message(self, text: str) -> None:
        self.messages.append(text)

    def host_result(self, host, status, result, *, ignored=False, diff=False, module=None) -> None:
        pass

    def recap(self, run: Any) -> None:
        doc = {
            "plays": run.plays,
            "stats": {h: vars(s) for h, s in sorted(run.stats.items())},
            "aborted": run.aborted,
            "abort_reason": run.abort_reason,
            "untouched": run.untouched,
            "failed_hosts": run.failed_hosts,
            "unreachable_hosts": run.unreachable_hosts,
            "exit_code": run.exit_code,
            "elapsed_seconds": round(run.elapsed, 3),
            "messages": self.messages,
        }
        self.out.write(json.dumps(doc, indent=2, default=str) + "\n")
        self.out.flush()


class LiveReporter(PlainReporter):
    """For a terminal: the same lines scroll above a live table of every host's state."""

    def __init__(self, hosts: list[str] | None = None):
        from rich.console import Console
        from rich.live import Live

        super().__init__()
        self.console = Console()
        self.state: dict[str, list[str]] = {}
        self.task = ""
        self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=True)
        self.live.start()
        self.run_start(hosts or [])

    def run_start(self, hosts: list[str]) -> None:
        for h in hosts:
            self.state.setdefault(h, ["", "waiting", "0", "0"])
        self.live.update(self._table())

    def _table(self):
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        for col in ("host", "last task", "status", "ok", "changed"):
            table.add_column(col)
        colours = {"ok": "green", "changed": "yellow", "failed": "red", "unreachable": "red",
                   "skipped": "cyan"}
        for host, (task, status, ok, changed) in self.state.items():
            table.add_row(host, task, f"[{colours.get(status, 'white')}]{status}[/]", ok, changed)
        return table

    def _print(self, text: str = "") -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def task_start(self, title: str, handler: bool = False) -> None:
        self.task = title
        super().task_start(title, handler)

    def host_result(self, host, status, result, *, ignored=False, diff=False, module=None) -> None:
        super().host_result(host, status, result, ignored=ignored, diff=diff, module=module)
        row = self.state.setdefault(host, ["", "", "0", "0"])
        row[0], row[1] = self.task, status + (" (ignored)" if ignored else "")
        if status in ("ok", "changed"):
            row[2] = str(int(row[2]) + 1)
        if status == "changed":
            row[3] = str(int(row[3]) + 1)
        self.live.update(self._table())

    def recap(self, run: Any) -> None:
        self.live.stop()
        super().recap(run)


def make_reporter(*, json_output: bool, hosts: list[str] | None = None, out: TextIO | None = None) -> Reporter:
    """--json: one document; a terminal: lines above a live table; else Ansible's lines."""
    if json_output:
        return JsonReporter(out)
    stream = out or sys.stdout
    if stream.isatty():
        return LiveReporter(hosts)
    return PlainReporter(stream)


class AdhocReporter(PlainReporter):
    """`host | SUCCESS => {...}` lines, as Ansible's ad-hoc mode prints them (ping)."""

    def play_start(self, name: str) -> None:
        pass

    def task_start(self, title: str, handler: bool = False) -> None:
        pass

    def host_result(self, host, status, result, *, ignored=False, diff=False, module=None) -> None:
        word = {"unreachable": "UNREACHABLE!", "failed": "FAILED!"}.get(status, "SUCCESS")
        body = {k: v for k, v in result.items() if k not in ("stdout_lines", "stderr_lines")}
        self._print(f"{host} | {word} => {_json(body)}")

    def recap(self, run: Any) -> None:
        pass
