"""The shared, read-only Debian root every simulated Jetson boots from.

Built once with debootstrap and cached outside the repo, keyed by everything that goes
into it (suite, packages, provisioning script), so a second `lab up` costs seconds.
The build goes to a temporary directory that is renamed into place at the end, under a
file lock: a killed build never leaves a half root, and two concurrent `lab up` runs
never both debootstrap. A root is in use while a lab's overlays on it are mounted, and
before that while a `lab up` holds it (`base_in_use`, a shared lock on its `.NAME.use`
file): pruning the roots of other keys skips both.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterator

from y7deploy.errors import NotAvailable

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# What a host needs: real systemd + sshd for the fleet, python3 for Ansible modules and
# the stand-ins, a compiler for the DeepStream-Yolo parser build, sudo for `become`.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "iputils-ping",
    "sudo", "python3", "gcc", "g++", "make", "libc6-dev", "procps", "rsync", "less",
    "pkgconf",  # JetPack has it; the parser Makefile asks it for OpenCV with OPENCV=1
)

# Runs inside the fresh root (chroot). Bump PROVISION_VERSION with any change here.
PROVISION_VERSION = 1
PROVISION_SCRIPT = r"""
set -eu
# Host keys and machine-id are per host: each container gets its own at `lab up`.
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
useradd --create-home --uid 1000 --shell /bin/bash --groups sudo jetson
passwd --lock root >/dev/null
systemctl enable systemd-networkd.service >/dev/null 2>&1
systemctl enable ssh.service >/dev/null 2>&1
cat > /etc/ssh/sshd_config.d/10-y7lab.conf <<'CONF'
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
CONF
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
"""


def cache_root() -> Path:
    """Where base roots live; `Y7DEPLOY_LAB_CACHE` points elsewhere (the bench uses it)."""
    return Path(os.environ.get("Y7DEPLOY_LAB_CACHE", "/var/cache/y7deploy/lab-base"))


def base_key() -> str:
    """A short hash of everything that goes into the root."""
    text = "\n".join([SUITE, " ".join(PACKAGES), str(PROVISION_VERSION), PROVISION_SCRIPT])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def base_in_use(log: Callable[[str], None] = print) -> Iterator[Path]:
    """The cached base root, built first if missing, kept from being pruned by another
    `lab up` until the block ends: hold it until the overlays on it are mounted."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(_use_file(root / f"{SUITE}-{base_key()}"), "w") as use:
        fcntl.flock(use, fcntl.LOCK_SH)
        yield _ensure_base(root, log)


def _ensure_base(root: Path, log: Callable[[str], None]) -> Path:
    final = root / f"{SUITE}-{base_key()}"
    if (final / "etc" / "os-release").exists():
        return final
    if shutil.which("debootstrap") is None:
        raise NotAvailable("debootstrap is not installed: apt-get install debootstrap (or run `make setup`)")
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another `lab up` may be building it right now
        if (final / "etc" / "os-release").exists():
            return final
        for stale in root.glob("*.tmp-*"):  # a build killed earlier
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f"{final.name}.tmp-{os.getpid()}"
        log(f"building the lab base root {final} (debootstrap {SUITE}: minutes, once per machine)")
        mirror = os.environ.get("Y7DEPLOY_LAB_MIRROR", DEFAULT_MIRROR)
        try:
            _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                  SUITE, str(tmp), mirror])
            _run(["chroot", str(tmp), "/bin/sh", "-c", PROVISION_SCRIPT],
                 env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune_old_bases(root, keep=final, log=log)
    return final


def _use_file(base: Path) -> Path:
    return base.parent / f".{base.name}.use"


def _prune_old_bases(root: Path, keep: Path, log: Callable[[str], None]) -> None:
    """Remove roots of other keys (about 0.5 GB each) that no lab has mounted and no
    `lab up` holds; a build in progress is a .tmp- name and is left alone."""
    for old in root.glob(f"{SUITE}-*"):
        if old == keep or ".tmp-" in old.name:
            continue
        with open(_use_file(old), "w") as use:
            try:
                fcntl.flock(use, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a `lab up` of that key is mounting it now
            # Read after taking the lock: a holder may have mounted it and let go meanwhile.
            with open("/proc/self/mountinfo") as f:
                if str(old) in f.read():
                    continue
            log(f"removing the outdated lab base root {old}")
            shutil.rmtree(old, ignore_errors=True)


def _run(cmd: list[str], env: dict | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): " + " | ".join(tail))
