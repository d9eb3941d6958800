"""When a push goes wrong on the lab: every host ends on the release it ran, or on the new
one verified, never half switched; the plan refuses what a host cannot take before any
device is touched; two pushes never interleave; secrets never show.

Each test starts from the fleet committed on tiny-1.0.0 (`on_v1`).
"""

from __future__ import annotations

import json
import signal

import pytest
import yaml
from deploy_lab_kit import deploy_lab, lab_fleet, releases  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def on_v1(lab_fleet):
    code, report, proc = lab_fleet.push("tiny-1.0.0", "--max-fail-percentage", "100")
    assert code == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert all(lab_fleet.current(h) == "tiny-1.0.0" for h in lab_fleet.hosts)
    return lab_fleet


def hosts_on(fleet, release):
    """Hosts at rest on `release`: releases/<release> itself, or a config slot of it (a host that
    keeps releases/<release> with other configs, e.g. those of a push that failed, gets the
    push's configs in releases/<release>@cfg-<digest>: a kept directory is never edited)."""
    return {h for h in fleet.hosts
            if fleet.current(h).partition("@cfg-")[0] == release and fleet.state(h)["state"] != "switched"}


@pytest.mark.parametrize("release, args, host_profile, reason", [
    ("tinyop-14", (), "nano-jp461", "ONNX opset 14 is newer than TensorRT 8.2"),
    ("tinydyn-1", (), "nano-jp461", "a dynamic-batch model needs DeepStream 6.1 or later"),
    ("tiny-2.0.0", ("--precision", "int8"), "nano-jp461", "int8 on a GPU without fast INT8"),
    ("tiny-2.0.0", ("--precision", "int8"), "agx-orin-jp62", "int8 needs a calibration table in the release"),
])
def test_a_refused_plan_exits_2_naming_host_and_reason_and_touches_nothing(on_v1, release, args, host_profile, reason):
    before = {h: on_v1.snapshot(h) for h in on_v1.hosts}
    code, report, proc = on_v1.push(release, *args)
    assert code == 2
    host = next(h.name for h in on_v1.lab.hosts if h.profile == host_profile)
    assert any(r["host"] == host and reason in r["reason"] for r in report["refusals"]), report["refusals"]
    plain = on_v1.y7("push", release, *args, "-i", str(on_v1.inventory), "--releases", str(on_v1.releases))
    assert plain.returncode == 2 and f"error: {host}: " in plain.stderr and "Traceback" not in plain.stderr
    assert {h: on_v1.snapshot(h) for h in on_v1.hosts} == before


def test_too_little_free_disk_is_refused(on_v1):
    host = on_v1.hosts[-1]
    with on_v1.fault(host, "disk-full"):
        code, report, _ = on_v1.push("tiny-2.0.0")
    assert code == 2
    assert any(r["host"] == host and "too little free disk" in r["reason"] for r in report["refusals"])
    assert hosts_on(on_v1, "tiny-1.0.0") == set(on_v1.hosts)


def test_a_release_whose_app_fails_rolls_back_at_the_canaries_and_stops_the_rollout(on_v1):
    # The new release's config names a camera file that is not there: deepstream-app exits at start.
    code, report, proc = on_v1.push("tiny-2.0.0", "-e", json.dumps({"y7_sources": ["file:///no/such.mp4"]}))
    assert code == 4, proc.stdout[-3000:]
    assert report["aborted"]
    canaries = [h for h, r in report["hosts"].items() if r["wave"] == 1]
    assert canaries and all(report["hosts"][h]["result"] == "rolled_back" for h in canaries)
    assert all("health gate failed" in report["hosts"][h]["reason"] for h in canaries)
    assert set(report["untouched"]) == {h for h in on_v1.hosts if h not in canaries}
    assert hosts_on(on_v1, "tiny-1.0.0") == set(on_v1.hosts)
    for host in canaries:
        assert on_v1.state(host)["state"] == "rolled_back"
        assert on_v1.root(host, "systemctl is-active y7deploy-app").strip() == "active"


def test_an_abort_in_the_second_wave_puts_the_first_wave_back(on_v1):
    classes = on_v1.classes()
    pairs = [m for m in classes.values() if len(m) > 1]
    if not pairs:
        pytest.skip("needs two hosts of one device class (a second wave): see deploy_lab_kit's docstring")
    second = pairs[0][1]
    # This host alone cannot start the new release's app: it fails in wave 2.
    override = yaml.safe_load((on_v1.inventory / "group_vars" / "all.yml").read_text())
    host_vars = on_v1.inventory / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / f"{second}.yml").write_text(yaml.safe_dump({**override, "y7_sources": ["file:///no/such.mp4"]}))
    try:
        code, report, proc = on_v1.push("tiny-2.0.0", "--serial", "100%")
    finally:
        (host_vars / f"{second}.yml").unlink()
    assert code == 4, proc.stdout[-3000:]
    first = [h for h, r in report["hosts"].items() if r["wave"] == 1]
    assert report["hosts"][second]["wave"] == 2 and report["hosts"][second]["result"] == "rolled_back"
    assert all(report["hosts"][h]["result"] == "reverted" for h in first)
    assert hosts_on(on_v1, "tiny-1.0.0") == set(on_v1.hosts)


def test_engine_build_failure_and_timeout_leave_the_host_on_its_old_release(on_v1):
    orin_nano = on_v1.host_of("orin-nano-jp61")  # a module without DLA: trtexec fails --useDLACore
    xavier = on_v1.host_of("xavier-nx-jp513")
    states = {h: on_v1.state(h) for h in (orin_nano, xavier)}
    code, report, _ = on_v1.push("tiny-2.0.0", "--limit", orin_nano, "-e", "y7_dla_core=0")
    assert code == 4 and report["hosts"][orin_nano]["result"] == "failed"
    assert "Cannot create DLA engine, 0 not available" in report["hosts"][orin_nano]["reason"]
    key = report["hosts"][orin_nano]["engine_key"]
    assert on_v1.root(orin_nano, f"ls /opt/y7deploy/engines/{key}.* | xargs -n1 basename").split() == [f"{key}.log"]

    on_v1.lab.put(xavier, "/etc/y7deploy-lab/trtexec-build-seconds", b"60\n")
    try:
        code, report, _ = on_v1.push("tiny-2.0.0", "--limit", xavier, "--precision", "fp16",
                                     "-e", "engine_build_timeout=2")
    finally:
        on_v1.root(xavier, "rm -f /etc/y7deploy-lab/trtexec-build-seconds")
    assert code == 4 and "timed out after 2 s" in report["hosts"][xavier]["reason"]
    assert hosts_on(on_v1, "tiny-1.0.0") == set(on_v1.hosts)
    assert {h: on_v1.state(h) for h in (orin_nano, xavier)} == states  # never switched


def test_unreachable_host_mid_push_the_rest_finish_exit_3_and_a_rerun_converges(on_v1):
    host = on_v1.hosts[0]  # a canary: 1 of the first wave's 4 is within --max-fail-percentage 50
    push = on_v1.popen("push", "tiny-2.0.0", "-i", str(on_v1.inventory), "--releases", str(on_v1.releases),
                       "--max-fail-percentage", "50", "--json")
    on_v1.wait_for(f"{host} switched", lambda: on_v1.state(host).get("state") == "switched")
    with on_v1.fault(host, "link-down"):
        out, err = push.communicate(timeout=600)
        report = json.loads(out)
        assert push.returncode == 3, err[-2000:] + out[-6000:]
        assert report["hosts"][host]["result"] == "unreachable"
        assert all(r["result"] == "committed" for h, r in report["hosts"].items() if h != host)
    # Link back: the device has reverted itself (or will by its deadline); the same push converges.
    code, report, proc = on_v1.push("tiny-2.0.0", "--lock-timeout", "120")
    assert code == 0, proc.stdout[-3000:]
    assert report["hosts"][host]["result"] == "committed"
    assert {r["result"] for h, r in report["hosts"].items() if h != host} == {"unchanged"}
    assert hosts_on(on_v1, "tiny-2.0.0") == set(on_v1.hosts)


def test_two_pushes_at_once_never_interleave(on_v1):
    host = on_v1.hosts[0]
    first = on_v1.popen("push", "tiny-2.0.0", "-i", str(on_v1.inventory), "--releases", str(on_v1.releases),
                        "--limit", host, "--json")
    on_v1.wait_for("the first push's lock", lambda: "python3 -c" in on_v1.root(host, "ps -eo args | grep [Y]7LOCKED"))
    code, report, _ = on_v1.push("tiny-2.0.0", "--limit", host, "--lock-timeout", "1")
    assert code == 3 and report["hosts"][host]["result"] == "busy"
    code, report, _ = on_v1.push("tiny-1.0.0", "--limit", host, "--lock-timeout", "300")
    first.communicate(timeout=600)
    assert first.returncode == 0 and code == 0
    history = on_v1.state(host)["history"]
    runs = [e["run_id"] for e in history if e["action"] in ("switch", "commit")]
    assert runs[-4:] == [runs[-4], runs[-4], runs[-2], runs[-2]] and runs[-4] != runs[-2]  # switch, commit, switch, commit
    assert on_v1.current(host) == "tiny-1.0.0"


def test_push_killed_after_the_switch_the_device_reverts_itself_by_its_deadline(on_v1):
    host = on_v1.hosts[0]
    push = on_v1.popen("push", "tiny-2.0.0", "-i", str(on_v1.inventory), "--releases", str(on_v1.releases),
                       "--limit", host, "-e", "health_deadline=8", "-e", "commit_deadline=10", "--json")
    on_v1.wait_for("the switch", lambda: on_v1.state(host).get("state") == "switched")
    push.send_signal(signal.SIGKILL)
    push.wait()
    assert on_v1.current(host).partition("@cfg-")[0] == "tiny-2.0.0"  # itself or a config slot (hosts_on)
    on_v1.wait_for("the device's own revert", lambda: on_v1.state(host).get("state") == "rolled_back", timeout=120)
    assert on_v1.current(host) == "tiny-1.0.0"
    on_v1.wait_for("the app back on tiny-1.0.0",
                   lambda: on_v1.root(host, "systemctl is-active y7deploy-app").strip() == "active")


def test_a_host_rebooted_while_uncommitted_comes_back_on_its_old_release(on_v1):
    host = on_v1.hosts[0]
    push = on_v1.popen("push", "tiny-2.0.0", "-i", str(on_v1.inventory), "--releases", str(on_v1.releases),
                       "--limit", host, "-e", "commit_deadline=600", "--json")
    on_v1.wait_for("the switch", lambda: on_v1.state(host).get("state") == "switched")
    push.send_signal(signal.SIGKILL)
    push.wait()
    on_v1.reboot(host)
    assert on_v1.state(host)["state"] == "rolled_back"
    assert on_v1.current(host) == "tiny-1.0.0"
    on_v1.wait_for("the app on tiny-1.0.0", lambda: on_v1.root(host, "systemctl is-active y7deploy-app").strip() == "active")
    assert "y7deploy-confirm" not in on_v1.root(host, "systemctl list-timers --all --no-pager")


def test_secrets_never_reach_output_json_diff_logs_or_the_ledger(on_v1):
    secret = "Sup3rS3cretAccessKey=="
    host = on_v1.hosts[0]
    host_vars = on_v1.inventory / "host_vars"
    host_vars.mkdir(exist_ok=True)
    sink = {"type": "azure", "connection_str": f"HostName=hub.example.net;SharedAccessKey={secret}"}
    (host_vars / f"{host}.yml").write_text(yaml.safe_dump({"y7_sinks": [{"type": "fake"}, sink]}))
    try:
        outputs = []
        for args in (("--check", "--diff"), ("--check", "--diff", "--json"), ("--json",), ()):
            proc = on_v1.y7("push", "tiny-2.0.0", "-i", str(on_v1.inventory), "--releases", str(on_v1.releases),
                            "--limit", host, *args)
            outputs.append(proc.stdout + proc.stderr)
        status = on_v1.y7("status", "-i", str(on_v1.inventory), "--json")
        history = on_v1.y7("history", "--json")
        logs = on_v1.y7("logs", host, "-i", str(on_v1.inventory), "-n", "500")
    finally:
        (host_vars / f"{host}.yml").unlink()
    assert "committed" in outputs[2] and "unchanged" in outputs[3]
    for text in [*outputs, status.stdout, history.stdout, logs.stdout]:
        assert secret not in text
    assert secret.encode() not in on_v1.ledger.read_bytes()
    # The sink is a config change for a kept tiny-2.0.0: its configs went into a config slot of it.
    files = on_v1.root(host, f"grep -rl -- {secret} /opt/y7deploy/releases/").split()
    assert files and all(f.startswith("/opt/y7deploy/releases/tiny-2.0.0") for f in files)
    assert files and all(on_v1.root(host, f"stat -c %a {f}").strip() == "600" for f in files)
    assert secret not in on_v1.root(host, "journalctl --no-pager -n 2000")


def test_status_and_history_tell_what_happened_also_for_a_failed_run(on_v1):
    failing = on_v1.push("tiny-2.0.0", "-e", json.dumps({"y7_sources": ["file:///no/such.mp4"]}))
    run_id = failing[1]["run_id"]
    status = json.loads(on_v1.y7("status", "-i", str(on_v1.inventory), "--json").stdout)
    for host in on_v1.hosts:
        row = status[host]
        assert row["current"] == "tiny-1.0.0" and row["drift"] == ""
        assert row["unit"] == "active/running" and row["fps"] and row["engine_key"]
    canary = next(h for h, r in failing[1]["hosts"].items() if r["result"] == "rolled_back")
    assert status[canary]["state"] == "rolled back"
    history = json.loads(on_v1.y7("history", "--host", canary, "--json").stdout)
    last = [r for r in history if r["run_id"] == run_id]
    assert last and last[0]["result"] == "rolled_back" and "health gate failed" in last[0]["reason"]
    # tiny-2.0.0 with another camera: releases/tiny-2.0.0 itself, or a config slot of it where
    # the host keeps tiny-2.0.0 with other configs.
    assert last[0]["from_release"] == "tiny-1.0.0" and last[0]["to_release"].partition("@cfg-")[0] == "tiny-2.0.0"
    # A host changed behind the ledger's back is drift.
    on_v1.root(canary, "ln -sfn /opt/y7deploy/releases/tiny-2.0.0 /opt/y7deploy/current")
    try:
        status = json.loads(on_v1.y7("status", "-i", str(on_v1.inventory), "--json").stdout)
        assert "device runs tiny-2.0.0" in status[canary]["drift"]
    finally:
        on_v1.root(canary, "ln -sfn /opt/y7deploy/releases/tiny-1.0.0 /opt/y7deploy/current")
