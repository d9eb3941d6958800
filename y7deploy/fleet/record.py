"""What a run leaves behind: each host's statistics (the PLAY RECAP), the JSON record of
plays, tasks and per-host results (--json), and the run's result and exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from y7deploy.errors import EXIT_ABORTED, EXIT_HOSTS_FAILED, EXIT_OK


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class TaskOutcome:
    """One task's result on one host, as reported and recorded."""

    host: str
    status: str  # ok | changed | failed | skipped | unreachable
    result: dict[str, Any]
    ignored: bool = False


@dataclass
class RunResult:
    stats: dict[str, HostStats]
    plays: list[dict[str, Any]]
    aborted: bool = False
    abort_reason: str = ""
    untouched: list[str] = field(default_factory=list)
    failed_hosts: list[str] = field(default_factory=list)
    unreachable_hosts: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.aborted:
            return EXIT_ABORTED
        if self.failed_hosts or self.unreachable_hosts:
            return EXIT_HOSTS_FAILED
        return EXIT_OK


class Record:
    """Statistics and the JSON record of one run, filled as outcomes arrive."""

    def __init__(self) -> None:
        self.stats: dict[str, HostStats] = {}
        self.plays: list[dict[str, Any]] = []

    def play(self, name: str) -> None:
        self.plays.append({"name": name, "tasks": []})

    def task(self, title: str) -> dict[str, Any]:
        """A new task entry of the current play; its hosts are added with `host`."""
        entry: dict[str, Any] = {"name": title, "hosts": {}}
        self.plays[-1]["tasks"].append(entry)
        return entry

    @staticmethod
    def host(entry: dict[str, Any], outcome: TaskOutcome, shown: dict[str, Any]) -> None:
        entry["hosts"][outcome.host] = {"status": outcome.status, "ignored": outcome.ignored, **shown}

    def count(self, outcome: TaskOutcome, *, rescued: bool) -> None:
        """Add one outcome to its host's statistics, as Ansible counts: a failure that a
        block's rescue takes over is `rescued`, an ignored one is ok and `ignored`."""
        stats = self.stats.setdefault(outcome.host, HostStats())
        if outcome.status == "unreachable":
            stats.unreachable += 1
        elif outcome.status == "failed" and not outcome.ignored and rescued:
            stats.rescued += 1
        elif outcome.status == "failed" and not outcome.ignored:
            stats.failed += 1
        elif outcome.status == "skipped":
            stats.skipped += 1
        else:
            stats.ok += 1
            stats.changed += outcome.status == "changed" or (outcome.ignored and bool(outcome.result.get("changed")))
            stats.ignored += outcome.ignored
