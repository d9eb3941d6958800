"""Faults a real fleet meets, applied to one lab host; `clear` undoes them all.

link-down/link-up  the host's cable: its veth on the bridge side goes down/up
slow               a poor LTE link: tbf rate limit both ways (netem isn't in this kernel)
kill-sshd          sshd stops (existing sessions survive, as when the daemon dies)
disk-full          /opt/y7deploy (its own small tmpfs) is filled to the last byte
app-crash          the deepstream-app stand-in exits non-zero shortly after start
camera-down        the host's lab camera stops answering (camera-up starts it again)
power-cut          the host stops at once, no shutdown (power-on boots it again)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from y7deploy.errors import UserError
from y7deploy.lab import container, network

if TYPE_CHECKING:
    from y7deploy.lab.lab import Host, Lab

KINDS = ("link-down", "link-up", "slow", "kill-sshd", "disk-full", "app-crash", "camera-down",
         "camera-up", "power-cut", "power-on", "clear")
UNDOES = {"link-up": "link-down", "camera-up": "camera-down", "power-on": "power-cut"}
SLOW_RATE = "1mbit"
FILL_FILE = "/opt/y7deploy/.lab-disk-full"
CRASH_FLAG = "/etc/y7deploy-lab/faults/app-crash"


def apply(lab: "Lab", host: "Host", kind: str) -> None:
    if kind not in KINDS:
        raise UserError(f"unknown fault {kind!r}; one of: {', '.join(KINDS)}")
    veth = lab.names.veth_host(host.index)
    guest_if = container.GUEST_IF
    if kind == "power-cut":
        lab.power_cut(host.name)
        return
    if kind in ("power-on", "clear") and not lab.is_running(host.name):
        lab.power_on(host.name)
    if kind == "power-on":
        return
    if kind == "link-down":
        network.set_link(veth, up=False)
    elif kind == "link-up":
        network.set_link(veth, up=True)
    elif kind == "slow":
        network.shape(veth, SLOW_RATE)  # towards the device
        network.shape(guest_if, SLOW_RATE, netns_pid=lab.leader(host.name))  # from it
    elif kind == "kill-sshd":
        _root(lab, host, "systemctl stop ssh.service")
    elif kind == "disk-full":
        _root(lab, host, f"avail=$(df --output=avail -B1 /opt/y7deploy | tail -1); "
                         f"fallocate -l $avail {FILL_FILE} || "
                         f"dd if=/dev/zero of={FILL_FILE} bs=1M status=none 2>/dev/null; true")
    elif kind == "app-crash":
        _root(lab, host, f"mkdir -p $(dirname {CRASH_FLAG}) && touch {CRASH_FLAG}")
    elif kind == "camera-down":
        lab.camera_stop(host.name)
    elif kind == "camera-up":
        lab.camera_start(host.name)
    elif kind == "clear":
        lab.camera_start(host.name)
        network.set_link(veth, up=True)
        network.unshape(veth)
        leader = lab.leader(host.name)
        network.unshape(guest_if, netns_pid=leader)
        _root(lab, host, f"rm -f {FILL_FILE} {CRASH_FLAG}; systemctl start ssh.service")


def _root(lab: "Lab", host: "Host", command: str) -> None:
    proc = lab.root(host.name, command)
    if proc.returncode != 0:
        raise RuntimeError(f"{host.name}: {command!r} failed: {proc.stderr.strip()}")
