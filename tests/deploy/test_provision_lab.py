"""provision on the lab: the parser per CUDA, the app unit, the device helper and the boot
guard; a re-run changes nothing; the power mode from vars, and a mode that needs a reboot
refused by name rather than rebooted into; jetson_clocks at boot from vars, run once."""

from __future__ import annotations

import json
import subprocess

import pytest
from deploy_lab_kit import deploy_lab, lab_fleet, releases  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_provision_installs_the_helper_and_the_guard_and_a_rerun_changes_nothing(lab_fleet):
    for host in lab_fleet.hosts:
        assert lab_fleet.root(host, "systemctl is-enabled y7deploy-guard.service").strip() == "enabled"
        assert lab_fleet.root(host, "test -x /opt/y7deploy/bin/y7deploy-device && echo ok").strip() == "ok"
        assert lab_fleet.root(host, "ls /opt/y7deploy/lib/*/libnvdsinfer_custom_impl_Yolo.so | wc -l").strip() != "0"
    proc = lab_fleet.y7("provision", "-i", str(lab_fleet.inventory), "--json")
    assert proc.returncode == 0, proc.stdout[-2000:]
    recap = json.loads(proc.stdout)["stats"]
    assert {h: s["changed"] for h, s in recap.items()} == {h: 0 for h in lab_fleet.hosts}


def test_power_mode_from_vars_and_a_mode_that_needs_a_reboot_is_refused(lab_fleet):
    nano = lab_fleet.host_of("nano-jp461")
    proc = lab_fleet.y7("provision", "-i", str(lab_fleet.inventory), "--limit", nano, "-e", "y7_power_mode=1")
    try:
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert lab_fleet.root(nano, "nvpmodel -q").split() == ["NV", "Power", "Mode:", "5W", "1"]
    finally:
        lab_fleet.root(nano, "nvpmodel -m 0")
    orin = lab_fleet.host_of("agx-orin-jp62")  # MODE_15W (1) needs a reboot on this Orin
    before = lab_fleet.root(orin, "nvpmodel -q")
    proc = lab_fleet.y7("provision", "-i", str(lab_fleet.inventory), "--limit", orin, "-e", "y7_power_mode=1")
    assert proc.returncode == 3
    assert "power mode 1 was not set" in proc.stdout and "Reboot required" in proc.stdout
    assert lab_fleet.root(orin, "nvpmodel -q") == before


def clocks_calls(lab_fleet, host):
    """The jetson_clocks stand-in's call log on the host, oldest first."""
    return lab_fleet.lab.standin_log(host, "jetson_clocks")


def test_jetson_clocks_at_boot_runs_once_as_root_and_a_rerun_does_not_run_it_again(lab_fleet):
    host = lab_fleet.host_of("xavier-nx-jp513")
    as_user = subprocess.run(lab_fleet.lab.ssh_command(host, "jetson_clocks"), capture_output=True, text=True,
                             timeout=60)
    assert as_user.returncode == 1 and as_user.stdout.splitlines() == [
        "Error: Run this script(/usr/bin/jetson_clocks) as a root user"], as_user
    before = len(clocks_calls(lab_fleet, host))
    provision = ("provision", "-i", str(lab_fleet.inventory), "--limit", host, "-e", "y7_jetson_clocks=true", "--json")
    try:
        proc = lab_fleet.y7(*provision)
        assert proc.returncode == 0, proc.stdout[-2000:]
        unit = "y7deploy-clocks.service"
        assert lab_fleet.root(host, f"systemctl is-enabled {unit}").strip() == "enabled"
        shown = lab_fleet.root(host, f"systemctl show -p ActiveState -p SubState -p Result {unit}")
        assert dict(line.split("=", 1) for line in shown.split()) == {
            "ActiveState": "active", "SubState": "exited", "Result": "success"}  # RemainAfterExit
        calls = clocks_calls(lab_fleet, host)[before:]
        assert [(c["argv"], c["uid"], c["result"]) for c in calls] == [([], 0, "max")]
        assert lab_fleet.root(host, "cat /var/lib/y7deploy-lab/clocks").strip() == "max"
        again = lab_fleet.y7(*provision)
        assert again.returncode == 0, again.stdout[-2000:]
        assert json.loads(again.stdout)["stats"][host]["changed"] == 0
        assert len(clocks_calls(lab_fleet, host)) == before + 1
    finally:
        lab_fleet.root(host, "systemctl disable --now y7deploy-clocks.service; "
                             "rm -f /etc/systemd/system/y7deploy-clocks.service; systemctl daemon-reload; "
                             "echo dynamic > /var/lib/y7deploy-lab/clocks")
