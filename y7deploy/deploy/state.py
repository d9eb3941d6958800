"""The device's own record of its rollout: /opt/y7deploy/state.json.

Written atomically on the device (temp file, fsync, rename) before and after each step,
read back by push (to converge a re-run), rollback, status, and the guard unit at boot.

Schema 1::

    {"schema": 1,
     "state": "staged" | "switched" | "committed" | "rolled_back",
     "current": release id or null,     # what `current` points at (committed or not)
     "previous": release id or null,    # what a rollback returns to
     "pending": release id or null,     # staged or switched, not yet committed
     "run_id": str or null,             # the push/rollback that wrote this
     "deadline": float or null,         # epoch seconds: the device reverts itself after it
     "engine_key": str or null,         # the engine `current`'s config names
     "displaced": release id or null,   # `previous` before the last switch: restored by a revert
     "updated": float,                  # epoch seconds of the last write
     "history": [{"time", "action", "release", "run_id", "result", "reason"}, ...]}  # newest last

`switched` is the one state that is not at rest: `current` is the new release but no push
has committed it; the device's timer (or the guard at boot) switches back to `previous`
if nothing commits before `deadline`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from y7deploy.errors import UserError

SCHEMA = 1
STATES = ("staged", "switched", "committed", "rolled_back")
HISTORY_KEPT = 20


@dataclass(frozen=True)
class DeviceState:
    state: str = "committed"
    current: str | None = None
    previous: str | None = None
    pending: str | None = None
    run_id: str | None = None
    deadline: float | None = None
    engine_key: str | None = None
    displaced: str | None = None
    updated: float = 0.0
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def uncommitted(self) -> bool:
        """A switch that no push has committed: a re-run must finish or revert it first."""
        return self.state == "switched"

    @property
    def never_deployed(self) -> bool:
        return self.current is None and self.pending is None


def parse_state(text: str | None, where: str = "state.json") -> DeviceState:
    """A device's state from its state.json text; empty or missing text is a fresh device.

    A newer schema is refused (UserError naming `where`): an older y7deploy must not
    rewrite a record it does not understand.
    """
    if text is None or not text.strip():
        return DeviceState()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a JSON object, found {type(data).__name__}")
    schema = data.get("schema")
    if not isinstance(schema, int):
        raise UserError(f"{where}: no schema number")
    if schema > SCHEMA:
        raise UserError(f"{where}: schema {schema} was written by a newer y7deploy (this one reads "
                        f"schema {SCHEMA}); upgrade y7deploy on this workstation before touching the device")
    state = data.get("state", "committed")
    if state not in STATES:
        raise UserError(f"{where}: unknown state {state!r} (expected one of {', '.join(STATES)})")
    history = data.get("history") or []
    if not isinstance(history, list):
        raise UserError(f"{where}: history is not a list")
    return DeviceState(
        state=state,
        current=data.get("current"),
        previous=data.get("previous"),
        pending=data.get("pending"),
        run_id=data.get("run_id"),
        deadline=data.get("deadline"),
        engine_key=data.get("engine_key"),
        displaced=data.get("displaced"),
        updated=float(data.get("updated") or 0.0),
        history=tuple(h for h in history if isinstance(h, dict)),
    )


def render_state(state: DeviceState) -> str:
    """state.json's text: stable key order, one trailing newline."""
    data = {"schema": SCHEMA, **asdict(state)}
    data["history"] = list(state.history)[-HISTORY_KEPT:]
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _event(state: DeviceState, now: float, action: str, release: str | None, run_id: str | None,
           result: str, reason: str = "") -> tuple[dict[str, Any], ...]:
    entry = {"time": now, "action": action, "release": release, "run_id": run_id,
             "result": result, "reason": reason}
    return (state.history + (entry,))[-HISTORY_KEPT:]


def staged(state: DeviceState, release: str, run_id: str, engine_key: str, now: float) -> DeviceState:
    """Files and engine of `release` are in place; `current` still runs the old one."""
    return replace(state, state="staged", pending=release, run_id=run_id, deadline=None, updated=now,
                   history=_event(state, now, "stage", release, run_id, "ok", f"engine {engine_key}"))


def switched(state: DeviceState, release: str, run_id: str, engine_key: str, deadline: float,
             now: float) -> DeviceState:
    """`current` now points at `release`, uncommitted until `deadline`."""
    previous = state.current if state.current != release else state.previous
    return replace(state, state="switched", current=release, previous=previous, displaced=state.previous,
                   pending=release, run_id=run_id, engine_key=engine_key, deadline=deadline, updated=now,
                   history=_event(state, now, "switch", release, run_id, "ok"))


def committed(state: DeviceState, run_id: str, now: float, reason: str = "") -> DeviceState:
    """The gate passed: the switch stands."""
    return replace(state, state="committed", pending=None, deadline=None, run_id=run_id, updated=now,
                   history=_event(state, now, "commit", state.current, run_id, "ok", reason))


def rolled_back(state: DeviceState, run_id: str | None, now: float, reason: str,
                engine_key: str | None = None) -> DeviceState:
    """`current` went back to `previous`: a revert of an uncommitted switch (gate failed,
    deadline passed) restores the `previous` it displaced; an operator's rollback of a
    committed release keeps that release as `previous`, so it can be returned to."""
    back_from = state.current
    previous = state.displaced if state.uncommitted else back_from
    return replace(state, state="rolled_back", current=state.previous, previous=previous, pending=None,
                   displaced=None, deadline=None, run_id=run_id, engine_key=engine_key, updated=now,
                   history=_event(state, now, "rollback", state.previous, run_id, "ok", reason))
