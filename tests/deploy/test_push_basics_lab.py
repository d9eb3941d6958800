"""push, rollback and --check on the lab: engines built once per device class with the
flags of each TensorRT, loaded by the app without a rebuild, `current` switched and
committed; a re-run changes nothing; rollback builds nothing; --check touches nothing.

The tests run in file order on one provisioned lab; each says what it starts from. The
file is named to run before test_push_failures_lab.py, whose pushes would leave engines
and releases behind: the first test here needs a lab where tiny-1.0.0 was never pushed.
"""

from __future__ import annotations

import queue
import signal
import threading
import time

import pytest
from deploy_lab_kit import deploy_lab, lab_fleet, releases  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PROFILE_TRT = {"nano-jp461": "8.2", "xavier-nx-jp513": "8.5", "orin-nano-jp61": "10.3", "agx-orin-jp62": "10.3"}


def built(calls):
    return [c for c in calls if c.get("result") == "built"]


def test_push_v1_builds_one_engine_per_class_with_its_trtexec_flags_and_commits(lab_fleet):
    before = {h: len(lab_fleet.trtexec_calls(h)) for h in lab_fleet.hosts}
    code, report, proc = lab_fleet.push("tiny-1.0.0")
    assert code == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    profiles = {h.name: h.profile for h in lab_fleet.lab.hosts}
    for profile, members in lab_fleet.classes().items():
        builds = [c for h in members for c in built(lab_fleet.trtexec_calls(h)[before[h]:])]
        assert len(builds) == 1, (profile, builds)  # once per class; the others got a checked copy
        argv = builds[0]["argv"]
        trt = PROFILE_TRT[profile]
        if trt == "10.3":
            assert "--skipInference" in argv and not any(a.startswith(("--workspace", "--buildOnly")) for a in argv)
        else:
            assert "--buildOnly" in argv
        assert any(a.startswith("--timingCacheFile=/opt/y7deploy/cache/") for a in argv)
        assert not any(a.startswith(("--minShapes", "--optShapes", "--maxShapes", "--explicitBatch")) for a in argv)
        for copy_host in members[1:]:
            loads = [c for c in lab_fleet.trtexec_calls(copy_host)[before[copy_host]:] if c.get("result") == "loaded"]
            assert report["hosts"][copy_host]["engine"] == "copied" and loads, copy_host
    for host in lab_fleet.hosts:
        r = report["hosts"][host]
        assert r["result"] == "committed" and r["to_release"] == "tiny-1.0.0"
        engine = f"/opt/y7deploy/engines/{r['engine_key']}.engine"
        assert lab_fleet.root(host, f"test -s {engine} && echo ok").strip() == "ok"
        if r["engine"] == "built":  # trtexec's log is kept beside the engine it built
            assert "&&&& PASSED" in lab_fleet.root(host, f"cat /opt/y7deploy/engines/{r['engine_key']}.log")
        events = lab_fleet.app_events(host)
        last_start = max(i for i, e in enumerate(events) if e["event"] in ("engine-loaded", "engine-rebuild"))
        assert events[last_start] == {**events[last_start], "event": "engine-loaded", "path": engine}
        assert lab_fleet.current(host) == "tiny-1.0.0"
        state = lab_fleet.state(host)
        assert state["state"] == "committed" and state["current"] == "tiny-1.0.0" and state["engine_key"] == r["engine_key"]
        assert profiles[host] in PROFILE_TRT


def test_the_same_push_again_changes_nothing(lab_fleet):
    calls = {h: len(lab_fleet.trtexec_calls(h)) for h in lab_fleet.hosts}
    snapshots = {h: lab_fleet.root(h, "cat /opt/y7deploy/state.json; readlink /opt/y7deploy/current") for h in lab_fleet.hosts}
    code, report, _ = lab_fleet.push("tiny-1.0.0")
    assert code == 0
    assert {r["result"] for r in report["hosts"].values()} == {"unchanged"}
    assert {h: len(lab_fleet.trtexec_calls(h)) for h in lab_fleet.hosts} == calls
    assert {h: lab_fleet.root(h, "cat /opt/y7deploy/state.json; readlink /opt/y7deploy/current")
            for h in lab_fleet.hosts} == snapshots


def test_check_reports_upload_build_and_restart_and_leaves_every_device_byte_identical(lab_fleet):
    before = {h: lab_fleet.snapshot(h) for h in lab_fleet.hosts}
    code, report, proc = lab_fleet.push("tiny-2.0.0", "--check", "--diff")
    assert code == 0, proc.stderr
    for host in lab_fleet.hosts:
        check = report["hosts"][host]["check"]
        assert check["upload_bytes"] > 0 and "model.onnx" in check["upload"]
        assert check["engine"] in ("build", "copy") and check["restart"] is True
        assert set(check["render"]) >= {"config_infer_primary.txt", "deepstream_app_config.txt"}
    assert {h: lab_fleet.snapshot(h) for h in lab_fleet.hosts} == before


def test_push_v2_goes_canaries_first_then_rollback_returns_to_v1_without_trtexec(lab_fleet):
    code, report, proc = lab_fleet.push("tiny-2.0.0", "--serial", "1")
    assert code == 0, proc.stdout[-3000:]
    waves = {h: r["wave"] for h, r in report["hosts"].items()}
    classes = lab_fleet.classes()
    assert sorted(m[0] for m in classes.values()) == sorted(h for h, w in waves.items() if w == 1)
    assert all(w > 1 for m in classes.values() for h, w in waves.items() if h in m[1:])
    assert all(lab_fleet.current(h) == "tiny-2.0.0" for h in lab_fleet.hosts)

    calls = {h: len(lab_fleet.trtexec_calls(h)) for h in lab_fleet.hosts}
    code, report, proc = lab_fleet.run("rollback")
    assert code == 0, proc.stdout[-3000:]
    assert {h: len(lab_fleet.trtexec_calls(h)) for h in lab_fleet.hosts} == calls  # no engine built or checked
    for host in lab_fleet.hosts:
        assert report["hosts"][host]["result"] == "rolled_back"
        assert lab_fleet.current(host) == "tiny-1.0.0"
        state = lab_fleet.state(host)
        assert (state["state"], state["current"], state["previous"]) == ("rolled_back", "tiny-1.0.0", "tiny-2.0.0")
        starts = [e["event"] for e in lab_fleet.app_events(host) if e["event"] in ("engine-loaded", "engine-rebuild")]
        assert starts[-1] == "engine-loaded"  # the app back on v1 found its kept engine


def test_rollback_to_a_release_a_host_does_not_keep_is_refused_before_anything_changes(lab_fleet):
    before = {h: lab_fleet.snapshot(h) for h in lab_fleet.hosts}
    code, report, proc = lab_fleet.run("rollback", "--to", "tiny-9.9.9")
    assert code == 2
    assert {r["host"] for r in report["refusals"]} == set(lab_fleet.hosts)
    assert all("tiny-9.9.9 is not kept on this host" in r["reason"] for r in report["refusals"])
    assert {h: lab_fleet.snapshot(h) for h in lab_fleet.hosts} == before


def test_app_stop_start_and_status_and_logs_read_the_unit(lab_fleet):
    host = lab_fleet.hosts[0]
    inv = ["-i", str(lab_fleet.inventory)]
    assert lab_fleet.y7("app", "stop", *inv, "--limit", host).returncode == 0
    assert lab_fleet.root(host, "systemctl is-active y7deploy-app").strip() == "inactive"
    status = lab_fleet.y7("app", "status", *inv, "--limit", host, "--json")
    assert __import__("json").loads(status.stdout)[host]["state"] == "inactive/dead"
    assert lab_fleet.y7("app", "start", *inv, "--limit", host).returncode == 0
    lab_fleet.wait_for("the app's first **PERF: line", lambda: "**PERF:" in lab_fleet.y7("logs", host, *inv, "-n", "20").stdout)
    logs = lab_fleet.y7("logs", host, *inv, "-n", "5")
    assert logs.returncode == 0 and 1 <= len(logs.stdout.strip().splitlines()) <= 5


def _pump(stream, lines: queue.Queue) -> None:
    """Every line of `stream` into `lines`, then None at its end (keeps draining the pipe)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def wait_for_line(stream, text: str, timeout: float) -> str:
    """The first line of `stream` containing `text`; fails naming it when none comes in time.

    A thread reads, so a stream that goes quiet cannot hold the test past `timeout`."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no line containing {text!r} within {timeout:.0f} s")
        if line is None:
            pytest.fail(f"the stream ended before a line containing {text!r}")
        if text in line:
            return line


def test_logs_follow_streams_new_perf_lines_until_interrupted(lab_fleet):
    host = lab_fleet.hosts[0]
    inv = str(lab_fleet.inventory)
    assert lab_fleet.y7("app", "start", "-i", inv, "--limit", host).returncode == 0
    proc = lab_fleet.popen("logs", host, "-i", inv, "-f", "-n", "0")
    try:
        wait_for_line(proc.stdout, "**PERF:", timeout=120)  # the app prints one every y7_perf_interval_s
        follower = "pgrep -f '[j]ournalctl -u y7deploy-app.service .*-f'"
        assert lab_fleet.root(host, follower).strip()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        stderr = proc.stderr.read()
        assert code == 0 and stderr == "", stderr  # no traceback, and no clash of -f with another option
        # The channel is closed: the journal follower on the host ends at its next line.
        lab_fleet.wait_for("journalctl -f on the host to end", lambda: not lab_fleet.root(host, follower).strip(),
                           timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_retention_keeps_the_newest_releases_and_their_engines_never_current_or_previous(lab_fleet):
    host = lab_fleet.host_of("agx-orin-jp62")  # takes opset 14 and a dynamic batch
    for release in ("tiny-1.0.0", "tiny-2.0.0", "tinyop-14", "tinydyn-1"):
        code, report, proc = lab_fleet.push(release, "--limit", host, "-e", "keep_releases=2")
        assert code == 0, proc.stdout[-2000:]
    kept = set(lab_fleet.root(host, "ls /opt/y7deploy/releases").split())
    assert kept == {"tinyop-14", "tinydyn-1"}
    state = lab_fleet.state(host)
    assert (state["current"], state["previous"]) == ("tinydyn-1", "tinyop-14")
    engines = set(lab_fleet.root(host, "ls /opt/y7deploy/engines | sed -n 's/\\.engine$//p'").split())
    used = {lab_fleet.root(host, f"sed -n 's|^model-engine-file=.*/||p' /opt/y7deploy/releases/{r}/config_infer_primary.txt").strip()[:-7]
            for r in kept}
    assert engines == used
    code, _, _ = lab_fleet.run("rollback", "--limit", host)  # previous is kept: a rollback needs no build
    assert code == 0 and lab_fleet.current(host) == "tinyop-14"
    # New vars for the running model land in a config slot, which counts as that model: twice
    # new vars for tinyop-14 leave the other model (tinydyn-1) kept, and every config of
    # tinyop-14 too (counting directories would have dropped tinydyn-1 and tinyop-14).
    slots = []
    for threshold in ("0.4", "0.3"):
        code, report, proc = lab_fleet.push("tinyop-14", "--limit", host, "-e", "keep_releases=2",
                                            "-e", f"y7_conf_threshold={threshold}")
        assert code == 0, proc.stdout[-2000:]
        slots.append(report["hosts"][host]["to_release"])
    assert all(s.startswith("tinyop-14@cfg-") for s in slots) and lab_fleet.current(host) == slots[-1]
    assert set(lab_fleet.root(host, "ls /opt/y7deploy/releases").split()) == {"tinydyn-1", "tinyop-14", *slots}
