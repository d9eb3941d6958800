"""state.json: the device's record of a rollout, its schema and its transitions."""

from __future__ import annotations

import json

import pytest

from y7deploy.deploy.state import (DeviceState, committed, parse_state, render_state, rolled_back, staged,
                                   switched)
from y7deploy.errors import UserError


def test_a_fresh_device_has_no_release():
    for text in (None, "", "\n"):
        state = parse_state(text)
        assert state.never_deployed and not state.uncommitted


def test_round_trip():
    state = switched(DeviceState(current="m-1", state="committed"), "m-2", "run-1", "k2", deadline=1300.0, now=1000.0)
    assert parse_state(render_state(state)) == state
    doc = json.loads(render_state(state))
    assert doc["schema"] == 1 and doc["state"] == "switched" and doc["deadline"] == 1300.0


def test_a_newer_schema_is_refused_with_a_clear_message():
    with pytest.raises(UserError, match=r"cam-a01:/opt/y7deploy/state.json: schema 2 .* newer y7deploy"):
        parse_state('{"schema": 2, "state": "committed"}', where="cam-a01:/opt/y7deploy/state.json")


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"), ("[1]", "expected a JSON object"), ('{"state": "committed"}', "no schema"),
    ('{"schema": 1, "state": "halfway"}', "unknown state 'halfway'"),
])
def test_damaged_state_is_named(text, message):
    with pytest.raises(UserError, match=message):
        parse_state(text)


def test_push_then_commit():
    s0 = DeviceState(current="m-1", previous="m-0", state="committed", engine_key="k1")
    s1 = staged(s0, "m-2", "run-1", "k2", now=10.0)
    assert (s1.state, s1.current, s1.pending, s1.engine_key) == ("staged", "m-1", "m-2", "k1")
    s2 = switched(s1, "m-2", "run-1", "k2", deadline=400.0, now=20.0)
    assert (s2.state, s2.current, s2.previous, s2.engine_key, s2.deadline) == ("switched", "m-2", "m-1", "k2", 400.0)
    assert s2.uncommitted
    s3 = committed(s2, "run-1", now=30.0)
    assert (s3.state, s3.current, s3.previous, s3.pending, s3.deadline) == ("committed", "m-2", "m-1", None, None)
    assert [h["action"] for h in s3.history] == ["stage", "switch", "commit"]


def test_revert_of_an_uncommitted_switch_restores_previous_too():
    s0 = DeviceState(current="m-1", previous="m-0", state="committed", engine_key="k1")
    s2 = switched(s0, "m-2", "run-1", "k2", deadline=400.0, now=20.0)
    back = rolled_back(s2, "run-1", now=50.0, reason="gate: below 25 FPS", engine_key="k1")
    assert (back.state, back.current, back.previous, back.engine_key) == ("rolled_back", "m-1", "m-0", "k1")
    assert back.history[-1]["reason"] == "gate: below 25 FPS"


def test_an_operators_rollback_keeps_the_newer_release_to_return_to():
    s0 = DeviceState(current="m-2", previous="m-1", state="committed", engine_key="k2")
    back = rolled_back(s0, "run-9", now=60.0, reason="operator", engine_key="k1")
    assert (back.current, back.previous) == ("m-1", "m-2")


def test_history_is_bounded():
    state = DeviceState(current="m-0")
    for i in range(50):
        state = committed(switched(state, f"m-{i + 1}", f"r{i}", "k", 1.0, float(i)), f"r{i}", float(i))
    assert len(json.loads(render_state(state))["history"]) == 20
