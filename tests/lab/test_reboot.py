"""A host that reboots itself comes back, as a Jetson does: same keys, same /opt/y7deploy."""

from __future__ import annotations

import subprocess

import pytest

import lab_kit as kit

pytestmark = pytest.mark.lab


def test_reboot_inside_a_host_boots_it_again(lab):
    h = lab.hosts[3]
    boot_id = lab.get(h.name, "/proc/sys/kernel/random/boot_id")
    lab.put(h.name, "/opt/y7deploy/survives-reboot", "yes\n")
    subprocess.run(lab.ssh_command(h.name, "sudo systemctl reboot"), capture_output=True, timeout=30)
    kit.wait_rebooted(lab, h.name, boot_id)
    assert lab.get(h.name, "/proc/sys/kernel/random/boot_id") != boot_id
    assert lab.root(h.name, ["systemctl", "is-system-running"]).stdout.strip() == "running"
    assert lab.get(h.name, "/opt/y7deploy/survives-reboot") == b"yes\n"
    # Host key unchanged: strict checking against the lab's known_hosts still passes.
    proc = subprocess.run(lab.ssh_command(h.name, "cat /opt/y7deploy/survives-reboot"),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout == "yes\n"
    lab.root(h.name, "rm -f /opt/y7deploy/survives-reboot")
