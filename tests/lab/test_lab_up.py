"""The shared lab as a user meets it: OpenSSH with host keys checked, systemd, inventory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab
VENV_BIN = Path(sys.executable).parent


def test_hosts_span_at_least_three_profiles(lab):
    assert len({h.profile for h in lab.hosts}) >= 3
    assert [h.name for h in lab.hosts] == [f"jetson{i:02d}" for i in range(1, len(lab.hosts) + 1)]
    assert all(h.address.startswith("198.1") for h in lab.hosts)


def test_plain_openssh_login_with_strict_host_key_checking(lab):
    for h in lab.hosts:
        proc = subprocess.run(
            ["ssh", "-i", str(lab.key_file), "-o", f"UserKnownHostsFile={lab.known_hosts}",
             "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"jetson@{h.address}",
             "hostname; id -un; sudo -n true && echo sudo-ok"],
            capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [h.name, "jetson", "sudo-ok"]


def test_a_wrong_known_hosts_is_refused(lab, tmp_path):
    first, second = lab.hosts[0], lab.hosts[1]
    # Claim jetson01's address has jetson02's host key: ssh must refuse to log in.
    key = next(l for l in lab.known_hosts.read_text().splitlines() if l.startswith(second.name + ","))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{first.address} {' '.join(key.split()[1:])}\n")
    proc = subprocess.run(
        ["ssh", "-i", str(lab.key_file), "-o", f"UserKnownHostsFile={wrong}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"jetson@{first.address}", "true"],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr or "verification failed" in proc.stderr


def test_systemd_is_running_on_every_host(lab):
    for h in lab.hosts:
        proc = lab.root(h.name, ["systemctl", "is-system-running"])
        assert proc.stdout.strip() == "running", lab.root(h.name, "systemctl --failed").stdout


def test_inventory_is_ansible_yaml_usable_as_is(lab):
    doc = yaml.safe_load(lab.inventory_path.read_text())
    assert Path(doc["all"]["vars"]["deepstream_yolo_src"], "nvdsinfer_custom_impl_Yolo", "Makefile").is_file()
    groups = doc["all"]["children"]
    assert set(groups) == {h.profile.replace("-", "_") for h in lab.hosts}  # one group a profile: nano_jp461 ...
    hv = groups["nano_jp461"]["hosts"]["jetson01"]
    assert hv["ansible_user"] == "jetson"
    assert f"UserKnownHostsFile={lab.known_hosts}" in hv["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]

    listed = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(lab.inventory_path), "--list"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    inv = json.loads(listed.stdout)
    assert {g: inv[g]["hosts"] for g in groups} == {
        g: [h.name for h in lab.hosts if h.group == g] for g in groups}
    ping = subprocess.run([str(VENV_BIN / "ansible"), "all", "-i", str(lab.inventory_path), "-m", "ping",
                           "-o"], capture_output=True, text=True, timeout=120)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert ping.stdout.count("SUCCESS") == len(lab.hosts)


def test_status_cli_table_and_json(lab):
    y7 = shutil.which("y7deploy", path=str(VENV_BIN)) or "y7deploy"
    table = subprocess.run([y7, "lab", "status", "--name", lab.name], capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:5] == ["HOST", "ADDRESS", "PROFILE", "STATE", "SSH"]
    rows = json.loads(subprocess.run([y7, "lab", "status", "--name", lab.name, "--json"],
                                     capture_output=True, text=True).stdout)
    assert [(r["host"], r["state"], r["ssh"]) for r in rows] == [
        (h.name, "running", "ok") for h in lab.hosts]


def test_unknown_host_is_a_user_error(lab):
    y7 = shutil.which("y7deploy", path=str(VENV_BIN)) or "y7deploy"
    proc = subprocess.run([y7, "lab", "fault", "--name", lab.name, "jetson77", "slow"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "jetson77" in proc.stderr


def test_cli_offers_the_labs_own_profiles_and_faults():
    """The CLI takes its choices from the lab package, so a new profile or fault is offered at once."""
    from click.testing import CliRunner

    from y7deploy.cli import cli
    from y7deploy.lab import FAULTS, PROFILES

    refused = CliRunner().invoke(cli, ["lab", "up", "--profile", "no-such-profile"])
    assert refused.exit_code == 2
    assert all(name in refused.output for name in PROFILES), refused.output
    fault_help = CliRunner().invoke(cli, ["lab", "fault", "--help"]).output
    assert "|".join(FAULTS) in fault_help.replace("\n", "").replace(" ", "")
