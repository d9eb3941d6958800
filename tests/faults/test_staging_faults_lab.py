"""Faults while a push stages a new release (upload, engine build), on a lab of four device
classes pushed to as one wave of four canaries.

Each test starts from every host committed on one release, breaks one host at the step it
names (caught by watching the device: an upload's part file holding bytes, trtexec running,
the push taking its lock), and then holds the same four things as test_activation_faults_lab:
every host runs a release, old or new, never half switched; `status --json` says what the
device says; nothing kept on a device is lost; the same push run again converges.

Issue 10's own lab tests (tests/deploy/test_push_failures_lab.py) cover a link lost during
the gate (test_unreachable_host_mid_push_...) and a build that fails on a bad flag or runs
past engine_build_timeout on one host (test_engine_build_failure_and_timeout_...); these add
a link lost in the middle of an upload (the re-run sends only what had not arrived), the disk
filling up under an upload (no part file left), sshd dying under a build,
trtexec killed mid-build (as the OOM killer does) while the rest of the wave is switched, a
reboot in the middle of a build, a link slowed mid-push, and the disk filling up under a
build (no half-written engine or log left behind).
"""

from __future__ import annotations

import pytest
from fault_kit import SPARE, TRTEXEC_BUILD

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_link_lost_during_upload_leaves_that_host_on_its_release_and_the_rerun_resumes(fault_fleet):
    f = fault_fleet
    host = f.hosts[0]
    size = (f.releases / "fault-3.0.0" / "model.onnx").stat().st_size
    before = f.begin("fault-2.0.0")
    with f.uploading(host, "fault-3.0.0", *SPARE) as (push, arrived):
        f.lab.fault(host, "link-down")
        done = push.wait()

    assert done.code == 3, done.output
    assert done.result(host) == "unreachable"
    assert done.others(host) == {"committed"}
    f.assert_held(before, "fault-3.0.0", host, "fault-2.0.0")
    again = f.assert_rerun_converges(before, "fault-3.0.0", *SPARE, committed={host})
    # Only what had not arrived was sent: at most the model less what the host held at the cut.
    assert 0 < again.report["hosts"][host]["bytes_sent"] <= size - arrived, (again.report["hosts"][host], arrived)


def test_disk_full_during_upload_fails_that_host_leaves_no_partial_file_and_the_rerun_converges(fault_fleet):
    f = fault_fleet
    host = f.hosts[1]
    before = f.begin("fault-3.0.0")
    with f.uploading(host, "fault-4.0.0", *SPARE) as (push, _):
        f.lab.fault(host, "disk-full")  # /opt/y7deploy filled to the last byte under the upload
        done = push.wait()
        assert f.leftovers(host) == []  # the part is gone while the disk is still full

    assert done.code == 3, done.output
    assert done.result(host) == "failed" and "No space left on device" in done.reason(host), done.report["hosts"][host]
    assert done.others(host) == {"committed"}
    f.assert_held(before, "fault-4.0.0", host, "fault-3.0.0")
    f.assert_rerun_converges(before, "fault-4.0.0", *SPARE, committed={host})


def test_sshd_killed_during_the_engine_build_the_open_session_finishes_the_push(fault_fleet):
    f = fault_fleet
    host = f.hosts[2]
    before = f.begin("fault-4.0.0")
    builds = f.builds(host)
    with f.building(host, "fault-5.0.0") as push:
        f.lab.fault(host, "kill-sshd")  # sessions already open live on, as when the daemon dies
        try:
            done = push.wait()
            assert done.code == 0, done.output
            assert done.others("") == {"committed"}
            f.assert_status_tells_the_truth(down=(host,))  # no new session reaches it now
            blind = f.push_now("fault-5.0.0")
            assert blind.code == 3 and blind.result(host) == "unreachable", blind.output
            assert blind.others(host) == {"unchanged"}
        finally:
            f.lab.fault(host, "clear")

    f.assert_held(before, "fault-5.0.0")
    assert f.builds(host) == builds + 1
    f.assert_rerun_converges(before, "fault-5.0.0")


def test_trtexec_killed_mid_build_keeps_the_fleet_on_one_release_and_the_rerun_builds_only_there(fault_fleet):
    f = fault_fleet
    host = f.hosts[3]
    before = f.begin("fault-5.0.0")
    with f.building(host, "fault-6.0.0") as push:
        f.lab.root(host, ["pkill", "-KILL", "-f", TRTEXEC_BUILD])  # as the OOM killer ends a build
        done = push.wait()

    assert done.code == 4, done.output  # one failure of four: the rollout stops and is put back
    assert done.result(host) == "failed"
    assert "killed (SIGKILL)" in done.reason(host) and "timed out" not in done.reason(host)
    assert done.others(host) == {"reverted"}
    assert f.leftovers(host) == []
    f.assert_held(before, "fault-5.0.0")

    builds = {h: f.builds(h) for h in f.hosts}
    f.assert_rerun_converges(before, "fault-6.0.0", committed=f.hosts)
    # The engines the others built before the rollout was put back are used, not rebuilt.
    assert {h: f.builds(h) - builds[h] for h in f.hosts} == {h: int(h == host) for h in f.hosts}


def test_a_host_that_reboots_during_its_build_comes_back_on_its_release_and_the_rerun_converges(fault_fleet):
    f = fault_fleet
    host = f.hosts[0]
    before = f.begin("fault-6.0.0")
    with f.building(host, "fault-7.0.0", *SPARE) as push:
        f.lab.root(host, "systemctl reboot")
        done = push.wait()
        f.lab.wait_ready(host)

    assert done.code == 3, done.output
    assert done.result(host) in ("unreachable", "failed")
    assert done.others(host) == {"committed"}
    f.assert_held(before, "fault-7.0.0", host, "fault-6.0.0")  # its unit came up with it, on its release
    f.assert_rerun_converges(before, "fault-7.0.0", *SPARE, committed={host})


def test_a_link_slowed_mid_push_delays_that_host_but_fails_nothing(fault_fleet):
    f = fault_fleet
    host = f.hosts[1]
    before = f.begin("fault-7.0.0")
    push = f.start("fault-8.0.0")
    f.wait_for(f"{host}: the push holding its lock", lambda: f.lab.root(
        host, ["pgrep", "-f", "/opt/y7deploy/[.]lock"]).returncode == 0, every=0.2)
    f.lab.fault(host, "slow")
    try:
        done = push.wait()
    finally:
        f.lab.fault(host, "clear")

    assert done.code == 0, done.output
    assert done.others("") == {"committed"}
    assert done.report["hosts"][host]["bytes_sent"] >= (f.releases / "fault-8.0.0" / "model.onnx").stat().st_size
    f.assert_held(before, "fault-8.0.0")
    f.assert_rerun_converges(before, "fault-8.0.0")


def test_disk_full_during_the_engine_build_fails_that_host_and_leaves_no_partial_engine(fault_fleet):
    f = fault_fleet
    host = f.hosts[2]
    before = f.begin("fault-8.0.0")
    with f.building(host, "fault-9.0.0", *SPARE) as push:
        f.lab.fault(host, "disk-full")  # no room left for the engine trtexec is about to write
        try:
            done = push.wait()
            assert f.leftovers(host) == []  # cleaned up by the push, while the disk is still full
        finally:
            f.lab.fault(host, "clear")

    assert done.code == 3, done.output
    assert done.result(host) == "failed" and "engine build failed" in done.reason(host)
    assert done.others(host) == {"committed"}
    f.assert_held(before, "fault-9.0.0", host, "fault-8.0.0")
    f.assert_rerun_converges(before, "fault-9.0.0", *SPARE, committed={host})
