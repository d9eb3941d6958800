"""The plain rollout view (logs and pipes): one line per change of a host's figures."""

from __future__ import annotations

import io

from y7deploy.deploy.view import PlainView


def hosts_said(out: io.StringIO) -> list[str]:
    return [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]  # without the time


def test_a_host_read_twice_before_the_rollout_says_planned_once():
    out = io.StringIO()
    view = PlainView(out)
    for _ in range(2):  # push reads every host, then again under its lock
        view.task("cam1", "facts and device state", "ok", {"changed": False})
    view.task("cam1", "device helper", "changed", {"changed": True})
    view.host("cam1", fps="30.0", note="gate: 1.0 of 3 s so far")
    view.host("cam1", fps="30.0", note="gate: 1.0 of 3 s so far")
    view.host("cam1", fps="30.0", note="gate: 2.0 of 3 s so far")
    view.task("cam2", "facts and device state", "ok", {})
    assert hosts_said(out) == ["cam1: stage=planned", "cam1: stage=upload",
                               "cam1: fps=30.0 note=gate: 1.0 of 3 s so far",
                               "cam1: fps=30.0 note=gate: 2.0 of 3 s so far", "cam2: stage=planned"]
