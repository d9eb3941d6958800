"""One simulated Jetson: an overlayfs root booted by systemd-nspawn with real systemd.

No systemd runs on this machine's PID 1, so containers are not registered with
machined (`--register=no --keep-unit`); we find them again through /proc by the
marker argument each nspawn carries, and enter them with nsenter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from y7deploy.errors import NotAvailable

OPT_SIZE = "256M"  # /opt/y7deploy: a small disk of its own, so `disk-full` can fill it


def mount_overlay(lowers: list[Path], upper: Path, work: Path, merged: Path) -> None:
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={':'.join(str(p) for p in lowers)},upperdir={upper},workdir={work}"
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        if "unknown filesystem type" in proc.stderr:
            raise NotAvailable("the lab needs overlayfs in the kernel (modprobe overlay)")
        if "permission denied" in proc.stderr.lower() or "must be superuser" in proc.stderr:
            raise NotAvailable("the lab needs root (mounting overlayfs was refused)")
        raise RuntimeError(f"mount overlay on {merged}: {proc.stderr.strip()}")


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below `prefix`, deepest first (the order to unmount them)."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == str(prefix) or point.startswith(str(prefix) + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount(point: str) -> None:
    if subprocess.run(["umount", point], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", point], capture_output=True)


GUEST_IF = "eth0"  # the host's side of its link, as on a Jetson


CGROUP_HIERARCHIES = ("systemd", "unified")  # what a container's systemd manages here


def cgroup_dir(hierarchy: str, lab: str, host: str | None = None) -> Path:
    base = Path("/sys/fs/cgroup") / hierarchy / "y7deploy-lab" / lab
    return base / host if host else base


def remove_cgroups(lab: str) -> None:
    """Remove the lab's cgroups (bottom-up: a cgroup dir goes only with rmdir, when empty)."""
    for hierarchy in CGROUP_HIERARCHIES:
        top = cgroup_dir(hierarchy, lab)
        if not top.exists():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


# Runs each host's nspawn: moves into the host's own cgroups first (without a host
# systemd, `nspawn --keep-unit` keeps the container in nspawn's cgroup, and containers
# sharing one trip over each other's units: exit 219/CGROUP), puts the host side of the
# veth on the lab bridge once nspawn has made it, and boots the host again when it
# rebooted itself (nspawn exits 133), as a Jetson comes back after `reboot`.
WRAPPER = r"""
for d in $Y7_CGROUPS; do mkdir -p "$d" && echo $$ > "$d/cgroup.procs"; done
while :; do
  ( i=0
    while [ $i -lt 600 ]; do
      ip link set "$Y7_HOST_IF" master "$Y7_BRIDGE" 2>/dev/null && ip link set "$Y7_HOST_IF" up && exit 0
      i=$((i + 1)); sleep 0.1
    done ) &
  "$@"
  rc=$?
  [ "$rc" -eq 133 ] || exit "$rc"
done
"""


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)


def start(*, merged: Path, machine: str, hostname: str, host_if: str, bridge: str,
          firmware: Path, opt: Path, marker: str, console_log: Path, lab: str) -> None:
    """Boot the container in the background, detached from us (it outlives `lab up`).

    nspawn creates the veth pair itself (`--network-veth-extra`): handing it one we made
    (`--network-interface`) waits for udev, which this machine doesn't run.
    """
    cmd = [
        "systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
        f"--directory={merged}", f"--machine={machine}", f"--hostname={hostname}",
        f"--network-veth-extra={host_if}:{GUEST_IF}", f"--bind={opt}:/opt/y7deploy",
        f"--bind-ro={firmware}:/sys/firmware", "--link-journal=no", "--resolv-conf=off",
        "--timezone=off", "--console=read-only", marker,
    ]
    cgroups = [str(cgroup_dir(h, lab, hostname)) for h in CGROUP_HIERARCHIES
               if Path("/sys/fs/cgroup", h, "cgroup.procs").exists()]
    env = {"PATH": GUEST_ENV["PATH"], "Y7_CGROUPS": " ".join(cgroups), "Y7_HOST_IF": host_if,
           "Y7_BRIDGE": bridge}
    with open(console_log, "ab") as log:
        # setsid -f: the wrapper is re-parented to init, so it never becomes our zombie.
        subprocess.run(["setsid", "-f", "/bin/sh", "-c", WRAPPER, f"y7lab-{machine}", *cmd],
                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                       check=True)


def wrapper_pids(marker: str) -> list[int]:
    """The wrapper shells of a lab's hosts (they restart a host that rebooted)."""
    return _pids_with(marker, lambda args: args[0] == "/bin/sh")


def camera_pids(marker: str, port: int | None = None) -> list[int]:
    """The lab cameras of a lab (all, or the one listening on `port`)."""
    return _pids_with(marker, lambda args: "y7deploy.lab.camera" in args and (
        port is None or str(port) in args))


def nspawn_pids(marker: str, machine: str | None = None) -> list[int]:
    """The systemd-nspawn processes carrying `marker` (and `--machine=machine` if given)."""
    return _pids_with(marker, lambda args: os.path.basename(args[0]) == "systemd-nspawn" and (
        machine is None or f"--machine={machine}" in args))


def _pids_with(marker: str, match) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if args and marker in args and match(args):
            found.append(int(entry))
    return found


def leader_pid(nspawn_pid: int) -> int | None:
    """The container's PID 1: the descendant of nspawn that is PID 1 in its own namespace."""
    todo = [nspawn_pid]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:") and line.split()[-1] == "1" and len(line.split()) > 2:
                    return child
            todo.append(child)
    return None


def nsenter_cmd(leader: int, command: list[str]) -> list[str]:
    return ["nsenter", "-t", str(leader), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--", *command]


GUEST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "HOME": "/root"}


def run(leader: int, command: list[str] | str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    if isinstance(command, str):
        command = ["/bin/sh", "-c", command]
    kw.setdefault("text", True)
    if kw["text"]:
        kw.setdefault("errors", "replace")
    return subprocess.run(nsenter_cmd(leader, command), capture_output=True, env=GUEST_ENV,
                          timeout=timeout, **kw)


def wait_booted(leader: int, timeout: float) -> str:
    """Wait for systemd in the container to finish booting; return its state."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        try:
            proc = run(leader, ["systemctl", "is-system-running"], timeout=10)
            state = proc.stdout.strip() or state
        except subprocess.TimeoutExpired:
            pass
        if state in ("running", "degraded"):
            return state
        time.sleep(0.3)
    return state


def kill(nspawn_pid: int, timeout: float = 10) -> None:
    """Stop a container at once: SIGKILL its PID 1 (the kernel then kills everything in it)."""
    leader = leader_pid(nspawn_pid)
    if leader:
        try:
            os.kill(leader, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{nspawn_pid}").exists():
        time.sleep(0.1)
    if Path(f"/proc/{nspawn_pid}").exists():
        try:
            os.kill(nspawn_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
