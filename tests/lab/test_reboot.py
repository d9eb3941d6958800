"""A host that reboots itself comes back, as a Jetson does: same keys, same /opt/y7deploy.

The test follows the reboot through its events: the old boot's PID 1 is gone (the host
shut down), a new PID 1 runs another boot (the lab booted it again), systemd is running
and sshd answers. Each step is bounded by the lab's own boot bound (BOOT_TIMEOUT,
Y7DEPLOY_LAB_BOOT_TIMEOUT), the one `lab up` meets for all hosts at once on this machine;
a step that does not happen fails naming it, with what the host shows at that moment.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import lab_kit as kit
from y7deploy.lab.lab import BOOT_TIMEOUT

pytestmark = pytest.mark.lab


def process_state(pid: int) -> str:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "gone"
    return ", ".join(line for line in lines if line.startswith(("State:", "NSpid:", "PPid:")))


def started(pid: int) -> str | None:
    """When `pid` started (clock ticks after boot): with the PID, names one process even if the PID is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except OSError:
        return None


def console_tail(lab, host: str) -> str:
    console = lab.state_dir / "hosts" / host / "console.log"
    return " | ".join(console.read_text(errors="replace").splitlines()[-5:]) if console.exists() else ""


def test_reboot_inside_a_host_boots_it_again(lab):
    h = lab.hosts[3]
    old_pid1, old_boot = lab.leader(h.name), lab.get(h.name, "/proc/sys/kernel/random/boot_id")
    old_start = started(old_pid1)

    def another_boot() -> bytes | None:
        try:
            now = lab.get(h.name, "/proc/sys/kernel/random/boot_id")
        except Exception:  # noqa: BLE001 - between boots there is no PID 1 to enter
            return None
        return now if now != old_boot else None

    lab.put(h.name, "/opt/y7deploy/survives-reboot", "yes\n")
    # ssh returns when the host's sshd goes down with it.
    subprocess.run(lab.ssh_command(h.name, "sudo systemctl reboot"), capture_output=True, timeout=BOOT_TIMEOUT)
    try:
        kit.wait_for(lambda: started(old_pid1) != old_start, "the old boot's PID 1 to end",
                     timeout=BOOT_TIMEOUT)
        new_boot = kit.wait_for(another_boot, f"{h.name} to boot again", timeout=BOOT_TIMEOUT)
    except AssertionError as gave_up:
        seen = f"{gave_up}; old PID 1 {old_pid1}: {process_state(old_pid1)}; console: {console_tail(lab, h.name)}"
        try:  # the tests after this one need the host: boot it afresh
            lab.fault(h.name, "power-cut")
            lab.fault(h.name, "power-on")
        except Exception as also:  # noqa: BLE001 - said with what was seen
            seen += f"; booting it afresh failed too: {also}"
        raise AssertionError(seen) from None
    lab.wait_ready(h.name)  # systemd running, sshd answering; bounded by BOOT_TIMEOUT itself
    assert new_boot != old_boot and lab.leader(h.name) != old_pid1
    assert lab.root(h.name, ["systemctl", "is-system-running"]).stdout.strip() == "running"
    assert lab.get(h.name, "/opt/y7deploy/survives-reboot") == b"yes\n"
    # Host key unchanged: strict checking against the lab's known_hosts still passes.
    proc = subprocess.run(lab.ssh_command(h.name, "cat /opt/y7deploy/survives-reboot"),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == "yes\n"
    lab.root(h.name, "rm -f /opt/y7deploy/survives-reboot")
