"""The lab's isolated bridge and each host's veth pair, driven with iproute2.

The workstation gets the bridge's .1 address, so the fleet code reaches the hosts like
any LAN; nothing is forwarded or NATed, so no packet leaves the machine.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from y7deploy.errors import NotAvailable


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def links_with_prefix(prefix: str) -> list[str]:
    out = ip("-j", "link", "show").stdout
    return [link["ifname"] for link in json.loads(out or "[]") if link["ifname"].startswith(prefix)]


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


def create_bridge(name: str, subnet: ipaddress.IPv4Network) -> None:
    proc = ip("link", "add", name, "type", "bridge", check=False)
    if proc.returncode != 0:
        if "Operation not permitted" in proc.stderr:
            raise NotAvailable("the lab needs root (creating a network bridge was refused)")
        if "Unknown device type" in proc.stderr or "not supported" in proc.stderr.lower():
            raise NotAvailable("the lab needs the kernel's bridge support (modprobe bridge)")
        raise RuntimeError(f"ip link add {name} type bridge: {proc.stderr.strip()}")
    gateway = next(subnet.hosts())
    ip("addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", name)
    ip("link", "set", name, "up")


def delete_link(name: str) -> None:
    ip("link", "del", name, check=False)


def set_link(name: str, up: bool) -> None:
    ip("link", "set", name, "up" if up else "down")


def link_is_up(name: str) -> bool:
    out = ip("-j", "link", "show", "dev", name, check=False).stdout
    links = json.loads(out or "[]")
    return bool(links) and "UP" in links[0].get("flags", [])


def tc(*args: str, netns_pid: int | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["tc", *args]
    if netns_pid is not None:
        cmd = ["nsenter", "-t", str(netns_pid), "-n", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc


def shape(dev: str, rate: str, netns_pid: int | None = None) -> None:
    """Rate-limit a device's egress with a token bucket, like a poor LTE uplink."""
    set_root_qdisc(dev, "tbf", "rate", rate, "burst", "16kbit", "latency", "300ms", netns_pid=netns_pid)


def set_root_qdisc(dev: str, kind: str, *params: str, netns_pid: int | None = None) -> None:
    proc = tc("qdisc", "replace", "dev", dev, "root", kind, *params, netns_pid=netns_pid, check=False)
    if proc.returncode != 0:
        if "qdisc kind is unknown" in proc.stderr:  # the kernel's own words for a missing sch_ module
            raise NotAvailable(f"the lab needs the kernel's {kind} qdisc (modprobe sch_{kind})")
        raise RuntimeError(f"tc qdisc replace dev {dev} root {kind}: {proc.stderr.strip()}")


def unshape(dev: str, netns_pid: int | None = None) -> None:
    tc("qdisc", "del", "dev", dev, "root", netns_pid=netns_pid, check=False)


def qdisc(dev: str, netns_pid: int | None = None) -> str:
    return tc("qdisc", "show", "dev", dev, netns_pid=netns_pid, check=False).stdout
