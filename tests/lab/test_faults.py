"""Every fault takes effect, and `clear` undoes it."""

from __future__ import annotations

import subprocess
import time

import pytest

import lab_kit as kit

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


STREAM_DOWN = "head -c {size} /dev/zero"
# Times the bytes themselves, first to last, inside one session: no SSH handshake in it.
STREAM_UP = ("python3 -c 'import sys, time; r = sys.stdin.buffer; first = r.read(1); t = time.monotonic(); "
             "n = len(first) + len(r.read()); print(n, time.monotonic() - t)'")


def stream_down_seconds(lab, host: str, size: int) -> float:
    """Seconds from the first to the last byte of `size` bytes sent by the host."""
    proc = subprocess.Popen(lab.ssh_command(host, STREAM_DOWN.format(size=size)), stdout=subprocess.PIPE)
    first = proc.stdout.read(1)
    t0 = time.monotonic()
    rest = proc.stdout.read()
    elapsed = time.monotonic() - t0
    assert proc.wait(timeout=60) == 0 and len(first) + len(rest) == size
    return elapsed


def stream_up_seconds(lab, host: str, size: int) -> float:
    proc = subprocess.run(lab.ssh_command(host, STREAM_UP), input=bytes(size), capture_output=True, timeout=60)
    count, seconds = proc.stdout.split()
    assert proc.returncode == 0 and int(count) == size
    return float(seconds)


def test_slow_link_is_rate_limited_both_ways(lab, lab_fault):
    h = lab.hosts[1]
    size = 256 * 1024  # 2 Mbit: about 2 s at 1 Mbit/s, a blink on the bridge
    with lab_fault(h.name, "slow"):
        assert "tbf" in network.qdisc(lab.names.veth_host(h.index))
        slow_down = stream_down_seconds(lab, h.name, size)
        slow_up = stream_up_seconds(lab, h.name, size)
    assert "tbf" not in network.qdisc(lab.names.veth_host(h.index))
    # 1 Mbit/s cannot carry 2 Mbit in less than ~1.5 s (the bucket's burst aside), however
    # idle or busy this machine is; the same bytes unshaped, timed the same way, take far less.
    assert slow_down > 1.5 and slow_up > 1.5
    assert stream_down_seconds(lab, h.name, size) < slow_down / 2
    assert stream_up_seconds(lab, h.name, size) < slow_up / 2


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
    workdir = "/opt/y7deploy/crash-test"
    lab.put(h.name, f"{workdir}/app.txt", APP)
    with lab_fault(h.name, "app-crash"):  # it exits by itself: no timeout, no signal
        crashed = kit.run_app(lab, h.name, workdir, "app.txt", until=("exit",), signal=None)
        assert crashed.returncode == 255 and "App run failed" in crashed.output
        assert crashed.names()[-2:] == ["crash", "exit"] and "perf-started" not in crashed.names()
    fine = kit.run_app(lab, h.name, workdir, "app.txt")  # stopped by SIGINT once it prints **PERF:
    assert fine.returncode == 0 and "**PERF:" in fine.output and "crash" not in fine.names()
    lab.root(h.name, f"rm -rf {workdir}")


def test_power_cut_stops_the_host_without_a_shutdown(lab):
    h = lab.hosts[2]
    mark = "/opt/y7deploy/stop-ran"  # /opt/y7deploy is the host's own disk: it outlives the cut
    lab.put(h.name, "/etc/systemd/system/y7-stopmark.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
            f"ExecStop=/bin/sh -c 'echo yes > {mark}'\n")
    lab.root(h.name, f"rm -f {mark}; systemctl daemon-reload && systemctl start y7-stopmark.service")
    boot_id = lab.get(h.name, "/proc/sys/kernel/random/boot_id")
    lab.fault(h.name, "power-cut")
    try:
        assert not lab.is_running(h.name) and not sshd_answers(h.address)
        row = next(r for r in lab.status() if r["host"] == h.name)
        assert row["state"] == "stopped" and row["faults"] == ["power-cut"]
    finally:
        lab.fault(h.name, "power-on")
    assert ssh(lab, h.name, "true").returncode == 0
    assert lab.get(h.name, "/proc/sys/kernel/random/boot_id") != boot_id
    assert lab.root(h.name, f"test -e {mark}").returncode != 0  # no unit was stopped
    assert [r["faults"] for r in lab.status() if r["host"] == h.name] == [[]]
    lab.root(h.name, "systemctl start y7-stopmark.service && systemctl stop y7-stopmark.service")
    assert lab.get(h.name, mark) == b"yes\n"  # the mark does show a stop when one runs
    lab.root(h.name, f"rm -f {mark} /etc/systemd/system/y7-stopmark.service; systemctl daemon-reload")


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
