"""`lab down` leaves nothing of the lab behind, also after a `lab up` killed half-way.

Uses a small lab of its own so the shared lab stays up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from y7deploy.lab import Lab, container, network

pytestmark = pytest.mark.lab


def leftovers(lab: Lab) -> dict:
    return {
        "links": network.links_with_prefix(lab.names.prefix),
        "mounts": container.mounts_under(lab.state_dir),
        "processes": container.nspawn_pids(lab.names.marker) + container.wrapper_pids(lab.names.marker),
        "state": lab.state_dir.exists(),
        "cgroups": [str(container.cgroup_dir(h, lab.name)) for h in container.CGROUP_HIERARCHIES
                    if container.cgroup_dir(h, lab.name).exists()],
    }


NOTHING = {"links": [], "mounts": [], "processes": [], "state": False, "cgroups": []}


@pytest.fixture
def small_lab(lab):
    """A lab named after the shared one (which this run holds a lease on), so parallel
    runs never collide and a killed run's leftovers are cleared by the next."""
    small = Lab(f"{lab.name}-down")
    yield small
    small.down(log=lambda *_: None)


def test_down_after_a_killed_up_leaves_nothing(small_lab, lab):
    code = (f"from y7deploy.lab import Lab; Lab({small_lab.name!r}).up(hosts=2, "
            "profiles=['nano-jp461', 'orin-nano-jp61'])")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(container.nspawn_pids(small_lab.names.marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # half-way: containers booting, inventory not written
    proc.wait()
    left = leftovers(small_lab)
    assert left["processes"] and left["mounts"] and left["links"]

    # The next `up` of the same name starts by clearing what the killed one left.
    small_lab.up(hosts=1, profiles=["xavier-nx-jp513"], log=lambda *_: None)
    assert [r["state"] for r in small_lab.status()] == ["running"]
    assert len(container.nspawn_pids(small_lab.names.marker)) == 1

    small_lab.down(log=lambda *_: None)
    assert leftovers(small_lab) == NOTHING
    assert not network.link_exists(small_lab.names.bridge)
    # ...and the shared lab, another name, was not touched.
    assert {r["state"] for r in lab.status()} == {"running"}


def test_sudo_password_and_inventory_out(small_lab, tmp_path):
    inventory = tmp_path / "lab.yml"
    small_lab.up(hosts=1, profiles=["agx-orin-jp62"], sudo_password="s3cret",
                 inventory_out=inventory, log=lambda *_: None)
    assert small_lab.inventory_path == inventory and "jetson01" in inventory.read_text()
    ask = subprocess.run(small_lab.ssh_command("jetson01", "sudo -n true"), capture_output=True,
                         text=True, timeout=30)
    assert ask.returncode == 1 and "a password is required" in ask.stderr
    wrong = subprocess.run(small_lab.ssh_command("jetson01", "echo nope | sudo -S -p '' true"),
                           capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 1
    right = subprocess.run(small_lab.ssh_command("jetson01", "echo s3cret | sudo -S -p '' id -u"),
                           capture_output=True, text=True, timeout=30)
    assert right.returncode == 0 and right.stdout.strip() == "0"


@pytest.mark.parametrize("command", [["up"], ["down"], ["status"], ["fault", "jetson01", "slow"]])
def test_not_root_is_one_clear_line(tmp_path, command):
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root")
    y7 = Path(sys.executable).parent / "y7deploy"
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           str(y7), "lab", command[0], "--name", "y7notroot", *command[1:]],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: the lab needs root (containers, bridges and mounts): run it as root"]


def test_interrupted_up_removes_what_it_made(small_lab):
    """Ctrl-C during `lab up`, once it has made its mounts and bridge: `lab up` itself removes
    everything it made (no `down`). Waiting for the containers instead raced the end of a
    2.7 s `up` in the full suite."""
    y7 = Path(sys.executable).parent / "y7deploy"
    # Ctrl-C as a shell delivers it: SIGINT at its default, whatever this process inherited
    # (earlier tests in the run can leave it ignored, and an ignored SIGINT is inherited).
    proc = subprocess.Popen([str(y7), "lab", "up", "--name", small_lab.name, "--hosts", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    made = lambda: container.mounts_under(small_lab.state_dir) and network.link_exists(small_lab.names.bridge)  # noqa: E731
    while not made() and proc.poll() is None:  # interrupt as soon as it has made something
        time.sleep(0.01)
    assert proc.poll() is None, "lab up ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err, out + err
    assert leftovers(small_lab) == NOTHING


def test_unwritable_inventory_out_is_refused_before_anything_starts(small_lab, tmp_path):
    y7 = Path(sys.executable).parent / "y7deploy"
    (tmp_path / "afile").write_text("")
    proc = subprocess.run([str(y7), "lab", "up", "--name", small_lab.name, "--hosts", "1",
                           "--inventory-out", str(tmp_path / "afile" / "lab.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: --inventory-out {tmp_path / 'afile' / 'lab.yml'}: {tmp_path / 'afile'} is not a directory"]
    assert leftovers(small_lab) == NOTHING
