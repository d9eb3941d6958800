"""Every fault takes effect, and `clear` undoes it."""

from __future__ import annotations

import subprocess
import time

import pytest

from y7deploy.lab import network
from y7deploy.lab.lab import sshd_answers

pytestmark = pytest.mark.lab


def eventually(check, timeout=15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def ssh(lab, host, command, timeout=60):
    return subprocess.run(lab.ssh_command(host, command), capture_output=True, timeout=timeout)


def test_link_down_and_up(lab, lab_fault):
    h = lab.hosts[0]
    with lab_fault(h.name, "link-down"):
        assert not sshd_answers(h.address)
        assert not network.link_is_up(lab.names.veth_host(h.index))
        assert [r["faults"] for r in lab.status() if r["host"] == h.name] == [["link-down"]]
    assert eventually(lambda: sshd_answers(h.address))


def test_link_up_undoes_link_down(lab, lab_fault):
    h = lab.hosts[0]
    with lab_fault(h.name, "link-down"):
        assert not sshd_answers(h.address)
        lab.fault(h.name, "link-up")
        assert network.link_is_up(lab.names.veth_host(h.index))
        assert eventually(lambda: sshd_answers(h.address))
        assert [r["faults"] for r in lab.status() if r["host"] == h.name] == [[]]


def test_slow_link_is_rate_limited_both_ways(lab, lab_fault):
    h = lab.hosts[1]
    size = 256 * 1024  # 2 Mbit: about 2 s at 1 Mbit/s, a blink on the bridge
    with lab_fault(h.name, "slow"):
        assert "tbf" in network.qdisc(lab.names.veth_host(h.index))
        t0 = time.monotonic()
        proc = ssh(lab, h.name, f"head -c {size} /dev/zero")
        slow = time.monotonic() - t0
        assert proc.returncode == 0 and len(proc.stdout) == size
        assert slow > 1.5
        t0 = time.monotonic()  # and towards the device
        proc = subprocess.run(lab.ssh_command(h.name, "wc -c"), input=bytes(size), capture_output=True,
                              timeout=60)
        slow_up = time.monotonic() - t0
        assert proc.returncode == 0 and int(proc.stdout) == size
        assert slow_up > 1.5
    assert "tbf" not in network.qdisc(lab.names.veth_host(h.index))
    t0 = time.monotonic()
    assert ssh(lab, h.name, f"head -c {size} /dev/zero").returncode == 0
    assert time.monotonic() - t0 < slow / 2
    t0 = time.monotonic()
    assert subprocess.run(lab.ssh_command(h.name, "wc -c"), input=bytes(size), capture_output=True,
                          timeout=60).returncode == 0
    assert time.monotonic() - t0 < slow_up / 2


def test_kill_sshd(lab, lab_fault):
    h = lab.hosts[2]
    with lab_fault(h.name, "kill-sshd"):
        assert eventually(lambda: not sshd_answers(h.address))
        assert ssh(lab, h.name, "true", timeout=30).returncode == 255
    assert eventually(lambda: sshd_answers(h.address))
    assert ssh(lab, h.name, "true").returncode == 0


def test_disk_full(lab, lab_fault):
    h = lab.hosts[3]
    with lab_fault(h.name, "disk-full"):
        assert lab.root(h.name, "df --output=avail -B1 /opt/y7deploy | tail -1").stdout.strip() == "0"
        proc = ssh(lab, h.name, "sudo dd if=/dev/zero of=/opt/y7deploy/probe bs=4k count=1")
        assert proc.returncode != 0 and b"No space left on device" in proc.stderr
    assert int(lab.root(h.name, "df --output=avail -B1 /opt/y7deploy | tail -1").stdout) > 100 << 20
    assert ssh(lab, h.name, "sudo sh -c 'echo x > /opt/y7deploy/probe && rm /opt/y7deploy/probe'").returncode == 0


APP = """\
[application]
enable-perf-measurement=1
perf-measurement-interval-sec=1
[source0]
enable=1
type=3
uri=file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4
[sink0]
enable=1
type=1
"""


def test_app_crash(lab, lab_fault):
    h = lab.hosts[0]
    lab.put(h.name, "/opt/y7deploy/crash-test/app.txt", APP)
    run = f"cd /opt/y7deploy/crash-test && timeout --preserve-status -s TERM 3 deepstream-app -c app.txt"
    with lab_fault(h.name, "app-crash"):
        t0 = time.monotonic()
        crashed = lab.root(h.name, run)
        assert crashed.returncode not in (0, 124) and time.monotonic() - t0 < 2.9
        assert "App run failed" in crashed.stdout
    fine = lab.root(h.name, run)
    assert fine.returncode == 0 and "**PERF:" in fine.stdout
    lab.root(h.name, "rm -rf /opt/y7deploy/crash-test")


def test_clear_undoes_everything_at_once(lab):
    h = lab.hosts[1]
    for kind in ("slow", "kill-sshd", "disk-full", "app-crash", "link-down"):
        lab.fault(h.name, kind)
    lab.fault(h.name, "clear")
    assert eventually(lambda: sshd_answers(h.address))
    row = next(r for r in lab.status() if r["host"] == h.name)
    assert row["faults"] == [] and row["ssh"] == "ok"
    assert "tbf" not in network.qdisc(lab.names.veth_host(h.index))
    assert lab.root(h.name, "ls /etc/y7deploy-lab/faults").stdout == ""
    assert int(lab.root(h.name, "df --output=avail -B1 /opt/y7deploy | tail -1").stdout) > 100 << 20
