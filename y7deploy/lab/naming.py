"""Every name a lab uses on this machine, derived from the lab's own name.

Several labs run side by side here (the test suite, other developers), so nothing is
global: the state dir, the bridge, the veths and the subnet all come from the lab
name, and cleanup only ever looks for the names derived here.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from y7deploy.errors import UserError

DEFAULT_LAB = "y7lab"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LAB_NET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: never routed


def state_root() -> Path:
    return Path(os.environ.get("Y7DEPLOY_LAB_STATE", "/var/lib/y7deploy-lab"))


def lab_name(name: str | None) -> str:
    name = name or os.environ.get("Y7DEPLOY_LAB") or DEFAULT_LAB
    if not NAME_RE.match(name):
        raise UserError(f"lab name {name!r}: use 1-32 of a-z, 0-9, '-', '_' (starting alphanumeric)")
    return name


@dataclass(frozen=True)
class Names:
    lab: str

    @property
    def tag(self) -> str:
        """Six hex digits of the name's hash: short enough for 15-char interface names."""
        return hashlib.sha256(self.lab.encode()).hexdigest()[:6]

    @property
    def prefix(self) -> str:
        return f"y7{self.tag}"  # every interface of this lab starts with it

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    def veth_host(self, index: int) -> str:
        return f"{self.prefix}h{index:02d}"

    @property
    def state_dir(self) -> Path:
        return state_root() / self.lab

    def machine(self, host: str) -> str:
        return f"{self.lab}-{host}"

    @property
    def marker(self) -> str:
        """An argument every systemd-nspawn of this lab carries, to find them after a crash."""
        return f"--setenv=Y7DEPLOY_LAB={self.lab}"


def host_name(index: int) -> str:
    return f"jetson{index:02d}"


def allocate_subnet(names: Names) -> ipaddress.IPv4Network:
    """A /24 for the lab: the one recorded earlier, else one picked from the name's hash.

    Probes past /24s taken by another lab's state or by a route on this machine, under
    a lock so two labs starting together don't pick the same one.
    """
    root = state_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".subnets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mine = root / names.lab / "subnet"
        if mine.exists():
            return ipaddress.ip_network(mine.read_text().strip())
        taken = set()
        for other in root.glob("*/subnet"):
            taken.add(other.read_text().strip())
        routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
        for line in routes.splitlines():
            first = line.split()[0] if line.split() else ""
            if "/" in first:
                try:
                    net = ipaddress.ip_network(first, strict=False)
                except ValueError:
                    continue
                if net.overlaps(LAB_NET):
                    taken.add(str(net))
        subnets = list(LAB_NET.subnets(new_prefix=24))
        start = int(hashlib.sha256(names.lab.encode()).hexdigest(), 16) % len(subnets)
        for step in range(len(subnets)):
            net = subnets[(start + step) % len(subnets)]
            if str(net) not in taken and not any(
                net.overlaps(ipaddress.ip_network(t)) for t in taken
            ):
                mine.parent.mkdir(parents=True, exist_ok=True)
                mine.write_text(f"{net}\n")
                return net
    raise UserError("no free /24 left in 198.18.0.0/15 for another lab")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
