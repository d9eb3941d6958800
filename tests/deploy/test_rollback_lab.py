"""rollback on the lab, beyond test_push_basics_lab's: the waves asked for, what status and
the ledger say afterwards, a switch no push committed refused before any host changes, and
a host whose old release fails the gate too reported as such.

Each test starts from the fleet committed on tiny-2.0.0 with tiny-1.0.0 kept as previous
(`on_v2`). Cost on the shared lab: two pushes per test (the second only restarts the hosts a
test moved), the rollbacks, one push killed after its switch.
"""

from __future__ import annotations

import json

import pytest
from deploy_lab_kit import deploy_lab, lab_fleet, releases  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def on_v2(lab_fleet):
    for bundle in ("tiny-1.0.0", "tiny-2.0.0"):
        code, report, proc = lab_fleet.push(bundle, "--serial", "100%", "--max-fail-percentage", "100")
        assert code == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert all(release(lab_fleet.current(h)) == "tiny-2.0.0" for h in lab_fleet.hosts)
    return lab_fleet


def release(directory: str | None) -> str | None:
    """The release a directory under releases/ holds: earlier tests in the session may have
    left a release with other configs, so a push of it lands in its config slot (ID@cfg-...)."""
    return directory.partition("@cfg-")[0] if directory else directory


def invocation(fleet, host: str) -> str:
    return fleet.root(host, "systemctl show -p InvocationID --value y7deploy-app.service").strip()


def test_rollback_goes_in_the_waves_asked_builds_nothing_and_status_and_history_show_it(on_v2):
    calls = {h: len(on_v2.trtexec_calls(h)) for h in on_v2.hosts}
    code, report, proc = on_v2.run("rollback", "--serial", "1,100%")
    assert code == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    waves = sorted(r["wave"] for r in report["hosts"].values())
    assert waves == [1] + [2] * (len(on_v2.hosts) - 1)
    assert {h: len(on_v2.trtexec_calls(h)) for h in on_v2.hosts} == calls
    status = json.loads(on_v2.y7("status", "-i", str(on_v2.inventory), "--json").stdout)
    history = json.loads(on_v2.y7("history", "--json").stdout)
    for host in on_v2.hosts:
        assert report["hosts"][host]["result"] == "rolled_back"
        assert (release(status[host]["current"]), release(status[host]["previous"])) == ("tiny-1.0.0", "tiny-2.0.0")
        assert status[host]["state"] == "rolled back" and status[host]["drift"] == ""
        assert status[host]["unit"] == "active/running"
        row = next(r for r in history if r["run_id"] == report["run_id"] and r["host"] == host)
        assert (release(row["from_release"]), release(row["to_release"]), row["result"]) == (
            "tiny-2.0.0", "tiny-1.0.0", "rolled_back")
        assert "y7deploy-confirm" not in on_v2.root(host, "systemctl list-timers --all --no-pager")


def left_uncommitted(fleet, host: str, release: str) -> None:
    """A push of `release` to `host`, SIGKILLed once it has switched: the switch stays pending."""
    argv = ["push", release, "-i", str(fleet.inventory), "--releases", str(fleet.releases), "--limit", host]
    with fleet.popen(*argv, "-e", "commit_deadline=600") as push:
        fleet.wait_for("the switch", lambda: fleet.state(host).get("state") == "switched")
        push.kill()


def test_a_switch_no_push_committed_is_refused_before_any_host_changes(on_v2):
    host = on_v2.hosts[0]
    left_uncommitted(on_v2, host, "tiny-1.0.0")
    # The killed push may still be restarting that host's app; every other app runs untouched.
    others = [h for h in on_v2.hosts if h != host]
    before = ({h: on_v2.snapshot(h) for h in on_v2.hosts}, {h: invocation(on_v2, h) for h in others})
    try:
        code, report, proc = on_v2.run("rollback")
        assert code == 2, proc.stdout[-3000:]
        assert [r["host"] for r in report["refusals"]] == [host]
        assert "is not committed yet" in report["refusals"][0]["reason"]
        assert ({h: on_v2.snapshot(h) for h in on_v2.hosts}, {h: invocation(on_v2, h) for h in others}) == before
    finally:  # a re-run of the push reverts what the killed one left uncommitted
        code, _, proc = on_v2.push("tiny-2.0.0", "--limit", host)
        assert code == 0, proc.stdout[-3000:]


def test_a_host_whose_old_release_fails_the_gate_goes_back_and_is_reported_loudly(on_v2):
    host = on_v2.hosts[-1]
    with on_v2.fault(host, "app-crash"):  # whatever release it runs, the app dies
        code, report, proc = on_v2.run("rollback", "--limit", host)
        assert code == 4, proc.stdout[-3000:]  # one host failed: over the default threshold, 0%
        r = report["hosts"][host]
        assert r["result"] == "rollback_failed" and "health gate failed" in r["reason"]
        assert "fails too" in r["reason"]
        # Back where it was before the rollback: nothing left pending, no timer left armed.
        assert (release(on_v2.current(host)), on_v2.state(host)["state"]) == ("tiny-2.0.0", "committed")
        assert "y7deploy-confirm" not in on_v2.root(host, "systemctl list-timers --all --no-pager")
    history = json.loads(on_v2.y7("history", "--host", host, "--json").stdout)
    assert [r["result"] for r in history if r["run_id"] == report["run_id"]] == ["rollback_failed"]


def test_a_look_at_the_gate_waits_on_the_device_for_the_next_perf_line_or_the_apps_end(on_v2):
    host = on_v2.hosts[0]
    probe = f"python3 /opt/y7deploy/bin/y7deploy-device probe --invocation {invocation(on_v2, host)}"
    seen = json.loads(on_v2.root(host, probe))["journal"].count("**PERF:")
    waited = json.loads(on_v2.root(host, f"{probe} --seen {seen} --due 0 --wait 600"))
    assert waited["journal"].count("**PERF:") > seen
    # The app gone: no line will come, and the look says so at once instead of waiting it out.
    on_v2.root(host, "systemctl stop y7deploy-app.service")
    asked = float(on_v2.root(host, "date +%s.%N"))
    stopped = json.loads(on_v2.root(host, f"{probe} --seen 1000000 --due 0 --wait 600"))
    assert stopped["now"] - asked < 600 and stopped["unit"]["ActiveState"] == "inactive"
    on_v2.root(host, "systemctl start y7deploy-app.service")
