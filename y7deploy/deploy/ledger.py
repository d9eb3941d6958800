"""The workstation's ledger: every push and rollback, per host, in one SQLite file.

Where it lives: `--ledger PATH`, else $Y7DEPLOY_LEDGER, else `y7deploy-ledger.sqlite` beside
the inventory (in it when the inventory is a directory). Secrets never reach it: option
names that look secret are dropped, and a Redactor's known values are masked in every
text written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any, Mapping

from y7deploy.fleet.redact import MASK, Redactor, is_secret_name
from y7deploy.fleet.report import Silent

ENV = "Y7DEPLOY_LEDGER"
DEFAULT_NAME = "y7deploy-ledger.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, release TEXT, operator TEXT,
    started TEXT NOT NULL, finished TEXT, options TEXT, result TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    host TEXT NOT NULL, time TEXT NOT NULL, from_release TEXT, to_release TEXT, engine_key TEXT,
    build_seconds REAL, cache_used TEXT, fps REAL, result TEXT NOT NULL, reason TEXT);
CREATE INDEX IF NOT EXISTS hosts_by_host ON hosts(host, id);
"""


def ledger_path(option: str | None, inventory: str | os.PathLike | None,
                environ: Mapping[str, str] = os.environ) -> Path:
    """The ledger file: the option, else the environment, else beside the inventory: next to
    an inventory file, and next to (not inside) an inventory directory, where the inventory
    loader would read the SQLite file as one more inventory source."""
    if option:
        return Path(option)
    if environ.get(ENV):
        return Path(environ[ENV])
    if inventory:
        return Path(inventory).absolute().parent / DEFAULT_NAME
    return Path(DEFAULT_NAME)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean_options(options: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in options.items():
        if is_secret_name(str(key)):
            clean[key] = MASK
        elif isinstance(value, Mapping):
            clean[key] = _clean_options(value)
        elif isinstance(value, (str, int, float, bool, type(None))):
            clean[key] = value
        elif isinstance(value, (list, tuple)):
            clean[key] = [v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for v in value]
        else:
            clean[key] = str(value)
    return clean


class Ledger:
    """One SQLite file; every call is its own short transaction, so two runs (two
    terminals) can write to it at once."""

    def __init__(self, path: str | os.PathLike, redactor: Redactor | None = None) -> None:
        self.path = Path(path)
        self.redactor = redactor or Redactor()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _text(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor.scrub(value)
        return value

    def start_run(self, kind: str, release: str | None, operator: str,
                  options: Mapping[str, Any] | None = None) -> str:
        """A new run; its id sorts by time ("20261201T020304Z-3fa9c1")."""
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        run_id = f"{stamp}-{secrets.token_hex(3)}"
        options_json = self._text(json.dumps(_clean_options(options or {}), sort_keys=True, default=str))
        with self._connect() as db:
            db.execute("INSERT INTO runs (run_id, kind, release, operator, started, options) VALUES (?,?,?,?,?,?)",
                       (run_id, kind, release, self._text(operator), _now(), options_json))
        return run_id

    def record_host(self, run_id: str, host: str, *, from_release: str | None, to_release: str | None,
                    engine_key: str | None = None, build_seconds: float | None = None,
                    cache_used: str | None = None, fps: float | None = None, result: str,
                    reason: str = "") -> None:
        """One host's outcome in a run (result: committed, rolled_back, failed, unreachable,
        skipped, refused, busy, rollback_failed, ...)."""
        with self._connect() as db:
            db.execute("INSERT INTO hosts (run_id, host, time, from_release, to_release, engine_key, "
                       "build_seconds, cache_used, fps, result, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, host, _now(), from_release, to_release, engine_key, build_seconds,
                        cache_used, fps, result, self._text(reason)))

    def finish_run(self, run_id: str, result: str, reason: str = "") -> None:
        with self._connect() as db:
            db.execute("UPDATE runs SET finished=?, result=?, reason=? WHERE run_id=?",
                       (_now(), result, self._text(reason), run_id))

    def history(self, host: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Host records with their run's kind, release, operator and times, oldest first."""
        query = ("SELECT h.run_id, r.kind, r.operator, r.started, r.finished, r.result AS run_result, "
                 "h.host, h.time, h.from_release, h.to_release, h.engine_key, h.build_seconds, "
                 "h.cache_used, h.fps, h.result, h.reason FROM hosts h JOIN runs r USING (run_id)")
        args: tuple[Any, ...] = ()
        if host is not None:
            query += " WHERE h.host = ?"
            args = (host,)
        query += " ORDER BY h.id"
        with self._connect() as db:
            rows = [dict(row) for row in db.execute(query, args)]
        return rows[-limit:] if limit else rows

    def runs(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY started, run_id")]
        for row in rows:
            row["options"] = json.loads(row["options"] or "{}")
        return rows

    def last_for_host(self, host: str) -> dict[str, Any] | None:
        """The newest record of `host` (status compares it with the device: drift)."""
        found = self.history(host, limit=1)
        return found[0] if found else None


class LedgerReporter(Silent):
    """Watches a plain playbook run (provision) beside the console (fleet.report.Tee) and
    writes each host's outcome, with its first failure's message, to the ledger at the recap.
    Results reach reporters already redacted; the ledger's own Redactor masks again."""

    def __init__(self, ledger: Ledger, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self._reasons: dict[str, str] = {}

    def host_result(self, host: str, status: str, result: dict[str, Any], *, ignored: bool = False,
                    diff: bool = False, module: str | None = None) -> None:
        if status in ("failed", "unreachable") and not ignored and host not in self._reasons:
            message = result.get("msg") or result.get("stderr") or status
            self._reasons[host] = " ".join(str(message).split())[:500]

    def recap(self, run: Any) -> None:
        for host, s in run.stats.items():
            result = ("unreachable" if s.unreachable else "failed" if s.failed
                      else "changed" if s.changed else "ok")
            self.ledger.record_host(self.run_id, host, from_release=None, to_release=None, result=result,
                                    reason=self._reasons.get(host, ""))
        for host in run.untouched:
            self.ledger.record_host(self.run_id, host, from_release=None, to_release=None, result="untouched",
                                    reason=run.abort_reason)
        outcome = "aborted" if run.aborted else "failed" if (run.failed_hosts or run.unreachable_hosts) else "ok"
        self.ledger.finish_run(self.run_id, outcome, run.abort_reason)
