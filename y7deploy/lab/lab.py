"""The lab: a named fleet of simulated Jetsons on one isolated bridge.

`Lab(name)` is the whole API the CLI and the tests use. Everything a lab owns lives
under its state dir (keys, known_hosts, inventory, each host's overlay layers) or is
named from the lab's name (bridge, veths, nspawn marker), so `down()` and the
leftover sweep at the start of `up()` touch nothing of any other lab.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from y7deploy.errors import NotAvailable, UserError
from y7deploy.lab import camera, container, faults, network
from y7deploy.lab.base import base_in_use
from y7deploy.lab.naming import Names, allocate_subnet, host_name, lab_name, read_json
from y7deploy.lab.profiles import PROFILES, get_profile, write_profile_layer

FIXTURE = Path(__file__).parent / "fixture" / "DeepStream-Yolo"
DEFAULT_HOSTS = 3
BOOT_TIMEOUT = float(os.environ.get("Y7DEPLOY_LAB_BOOT_TIMEOUT", 180))


@dataclass(frozen=True)
class Host:
    name: str  # jetson01 ...
    address: str
    profile: str
    index: int

    @property
    def group(self) -> str:
        return get_profile(self.profile).group


class Lab:
    """A simulated Jetson fleet. Construct by name; state is read from disk on demand."""

    def __init__(self, name: str | None = None) -> None:
        self.name = lab_name(name)
        self.names = Names(self.name)
        self.state_dir = self.names.state_dir

    # -- what the tests and the CLI read -------------------------------------------------
    @property
    def key_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        state = self._state()
        return Path(state["inventory"]) if state else self.state_dir / "inventory.yml"

    @property
    def deepstream_yolo_src(self) -> Path:
        return self.state_dir / "DeepStream-Yolo"

    @property
    def hosts(self) -> list[Host]:
        state = self._state() or {}
        return [Host(**h) for h in state.get("hosts", [])]

    @property
    def sudo_password(self) -> str | None:
        return (self._state() or {}).get("sudo_password")

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name or h.address == name:
                return h
        known = ", ".join(h.name for h in self.hosts) or "none (is the lab up?)"
        raise UserError(f"lab {self.name}: no host {name!r}; hosts: {known}")

    def ssh_command(self, host: str, *command: str) -> list[str]:
        """A plain OpenSSH command line into a host as `jetson`, host key checked."""
        h = self.host(host)
        return ["ssh", "-i", str(self.key_file), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                f"jetson@{h.address}", *command]

    # -- lifecycle -----------------------------------------------------------------------
    def up(self, hosts: int | None = None, profiles: list[str] | tuple[str, ...] | None = None,
           sudo_password: str | None = None, inventory_out: str | os.PathLike | None = None,
           log=print) -> list[Host]:
        """Bring up a fresh lab (clearing whatever an earlier run of this name left)."""
        _require_host_tools()
        profiles = list(profiles or [])
        for p in profiles:
            get_profile(p)
        if hosts is None:
            hosts = len(profiles) if profiles else DEFAULT_HOSTS
        if not 1 <= hosts <= 99:
            raise UserError(f"--hosts {hosts}: a lab has 1 to 99 hosts")
        cycle = profiles or list(PROFILES)
        if inventory_out is not None:
            _check_writable_file("--inventory-out", Path(inventory_out))
        _raise_kernel_limits(log)
        with self._lock():
            self._teardown(log=lambda *_: None)
            try:
                return self._up(hosts, cycle, sudo_password, inventory_out, log)
            except BaseException:
                if not os.environ.get("Y7DEPLOY_LAB_KEEP_FAILED"):  # keep it to debug
                    self._teardown(log=lambda *_: None)
                raise

    def down(self, log=print) -> None:
        """Remove every container, mount, veth and the bridge of this lab, and its state."""
        _require_root()
        with self._lock():
            self._teardown(log=log)

    def status(self) -> list[dict]:
        _require_root()  # the hosts' state is read from inside them (nsenter)
        rows = []
        state = self._state() or {}
        for h in self.hosts:
            leader = self._leader(h, required=False)
            systemd = "stopped"
            if leader:
                try:
                    systemd = container.run(leader, ["systemctl", "is-system-running"],
                                            timeout=10).stdout.strip() or "unknown"
                except subprocess.TimeoutExpired:
                    systemd = "unresponsive"
            rows.append({
                "host": h.name, "address": h.address, "profile": h.profile,
                "state": systemd, "ssh": "ok" if sshd_answers(h.address, 2.0) else "down",
                "faults": sorted(state.get("faults", {}).get(h.name, [])),
            })
        return rows

    def fault(self, host: str, kind: str) -> None:
        _require_root()
        h = self.host(host)
        faults.apply(self, h, kind)
        state = self._state() or {}
        active = set(state.setdefault("faults", {}).get(h.name, []))
        if kind == "clear":
            active.clear()
        elif kind in faults.UNDOES:
            active.discard(faults.UNDOES[kind])
        else:
            active.add(kind)
        state["faults"][h.name] = sorted(active)
        self._save(state)

    def root(self, host: str, command: list[str] | str, timeout: float = 120,
             **kw) -> subprocess.CompletedProcess:
        """Run a command as root inside a host (not over SSH): for tests and faults."""
        return container.run(self._leader(self.host(host)), command, timeout=timeout, **kw)

    def put(self, host: str, path: str, data: bytes | str, mode: int = 0o644,
            owner: str = "root") -> None:
        """Write a file inside a host as root (parent dirs created)."""
        data = data.encode() if isinstance(data, str) else data
        script = (f'mkdir -p "$(dirname {path!r})" && cat > {path!r} && chmod {mode:o} {path!r} '
                  f'&& chown {owner}: {path!r}')
        proc = self.root(host, script, input=data, text=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{host}: writing {path} failed: {proc.stderr.decode(errors='replace')}")

    def get(self, host: str, path: str) -> bytes:
        """Read a file inside a host as root."""
        proc = self.root(host, ["cat", path], text=False)
        if proc.returncode != 0:
            raise FileNotFoundError(f"{host}:{path}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def leader(self, host: str) -> int:
        """The host's PID 1 as seen from this machine."""
        return self._leader(self.host(host))

    # -- internals -----------------------------------------------------------------------
    def _up(self, count, cycle, sudo_password, inventory_out, log) -> list[Host]:
        t0 = time.monotonic()
        # Held until the hosts' overlays on the base are mounted: from then on they keep it.
        with base_in_use(log=log) as base:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            subnet = allocate_subnet(self.names)
            addrs = list(subnet.hosts())
            hosts = [Host(host_name(i), str(addrs[9 + i]), cycle[(i - 1) % len(cycle)], i)
                     for i in range(1, count + 1)]
            inventory = Path(inventory_out).resolve() if inventory_out else self.state_dir / "inventory.yml"
            state = {"name": self.name, "subnet": str(subnet), "base": str(base),
                     "hosts": [asdict(h) for h in hosts], "inventory": str(inventory),
                     "sudo_password": sudo_password, "faults": {}}
            self._save(state)

            _ssh_keygen(self.key_file, f"y7deploy-lab-{self.name}")
            for p in sorted({h.profile for h in hosts}):
                write_profile_layer(self.state_dir / "profiles" / p, get_profile(p), base)
            if self.deepstream_yolo_src.exists():
                shutil.rmtree(self.deepstream_yolo_src)
            shutil.copytree(FIXTURE, self.deepstream_yolo_src)

            network.create_bridge(self.names.bridge, subnet)
            host_keys = {}
            for h in hosts:
                host_keys[h.name] = self._prepare_host(h, base, subnet.prefixlen, sudo_password)
        for h in hosts:
            self._boot(h)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            list(pool.map(self.wait_ready, hosts))
        for h in hosts:
            self.camera_start(h.name)

        self.known_hosts.write_text("".join(
            f"{h.name},{h.address} {host_keys[h.name]}\n" for h in hosts))
        inventory.parent.mkdir(parents=True, exist_ok=True)
        inventory.write_text(self._inventory_yaml(hosts))
        log(f"lab {self.name}: {len(hosts)} hosts up on {subnet} in {time.monotonic() - t0:.1f}s")
        return hosts

    def _prepare_host(self, h: Host, base: Path, prefixlen: int, sudo_password: str | None) -> str:
        """Mount the host's root and write what makes it this host; return its host key."""
        d = self.state_dir / "hosts" / h.name
        prof = self.state_dir / "profiles" / h.profile
        merged = d / "merged"
        container.mount_overlay([prof / "root", base], d / "upper", d / "work", merged)
        # /opt/y7deploy: a small disk of the host's own that outlives a reboot of the host.
        container.mount_tmpfs(d / "opt", container.OPT_SIZE)

        (merged / "etc/hostname").write_text(h.name + "\n")
        (merged / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{h.name}\n")
        (merged / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        (merged / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
        # Sorts before the 80-container-host0.network that systemd ships.
        (merged / "etc/systemd/network/10-y7lab.network").write_text(
            f"[Match]\nName={container.GUEST_IF}\n\n"
            f"[Network]\nAddress={h.address}/{prefixlen}\nLinkLocalAddressing=no\n"
            "IPv6AcceptRA=no\nConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\n")

        keyfile = merged / "etc/ssh/ssh_host_ed25519_key"
        _ssh_keygen(keyfile, f"root@{h.name}")
        ssh_dir = merged / "home/jetson/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(f"{self.key_file}.pub").read_text())
        for p in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(p, 1000, 1000)
        os.chmod(ssh_dir / "authorized_keys", 0o600)

        sudoers = merged / "etc/sudoers.d/90-jetson"
        if sudo_password is None:
            sudoers.write_text("jetson ALL=(ALL:ALL) NOPASSWD:ALL\n")
            _chroot(merged, ["usermod", "-p", "*", "jetson"])
        else:
            sudoers.write_text("jetson ALL=(ALL:ALL) ALL\n")
            _chroot(merged, ["chpasswd"], stdin=f"jetson:{sudo_password}\n")
        os.chmod(sudoers, 0o440)
        _chroot(merged, ["ldconfig"])  # the profile's TensorRT/CUDA libraries, as JetPack's postinst does
        pub = Path(f"{keyfile}.pub").read_text().split()
        return f"{pub[0]} {pub[1]}"

    def _boot(self, h: Host) -> None:
        d = self.state_dir / "hosts" / h.name
        container.start(merged=d / "merged", machine=self.names.machine(h.name),
                        hostname=h.name, host_if=self.names.veth_host(h.index),
                        bridge=self.names.bridge, opt=d / "opt",
                        firmware=self.state_dir / "profiles" / h.profile / "firmware",
                        marker=self.names.marker, console_log=d / "console.log",
                        lab=self.name)

    def power_cut(self, host: str) -> None:
        """Stop a host at once, as pulling its plug does: no unit stops, no shutdown runs.
        Its disk (overlay upper layer, /opt/y7deploy) stays as it was at that instant."""
        h = self.host(host)
        machine = f"--machine={self.names.machine(h.name)}"
        for pid in container.wrapper_pids(self.names.marker):  # it would boot the host again
            if machine in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in container.nspawn_pids(self.names.marker, self.names.machine(h.name)):
            container.kill(pid)

    def power_on(self, host: str, timeout: float | None = None) -> None:
        """Boot a host whose power was cut, and wait until it answers SSH."""
        h = self.host(host)
        if self._leader(h, required=False) is None:
            self._boot(h)
        self.wait_ready(h, timeout)

    def is_running(self, host: str) -> bool:
        return self._leader(self.host(host), required=False) is not None

    @property
    def camera_address(self) -> str:
        """The workstation's address on the lab bridge, where the lab cameras listen."""
        subnet = (self._state() or {}).get("subnet")
        if not subnet:
            raise UserError(f"lab {self.name}: not up")
        return str(next(ipaddress.ip_network(subnet).hosts()))

    def camera_uri(self, host: str) -> str:
        """The RTSP URI of the lab camera that belongs to `host` (see camera.py)."""
        h = self.host(host)
        return camera.uri(self.camera_address, h.index, h.name)

    def camera_start(self, host: str) -> None:
        h = self.host(host)
        if not camera.answers(self.camera_address, camera.port(h.index), timeout=0.5):
            camera.start(self.camera_address, h.index, self.names.marker,
                         self.state_dir / "hosts" / h.name / "camera.log")

    def camera_stop(self, host: str) -> None:
        h = self.host(host)
        camera.stop(container.camera_pids(self.names.marker, camera.port(h.index)))

    STANDIN_LOGS = {"trtexec": "/var/log/trtexec-standin.log",
                    "deepstream-app": "/var/log/deepstream-standin.log",
                    "jetson_clocks": "/var/log/jetson_clocks-standin.log"}

    def standin_log(self, host: str, tool: str) -> list[dict]:
        """The JSON-line log of a stand-in inside a host (trtexec: one record per call;
        deepstream-app: one per event; jetson_clocks: one per call), oldest first. See README
        "Logs for tests"."""
        try:
            path = self.STANDIN_LOGS[tool]
        except KeyError:
            raise UserError(f"no stand-in log for {tool!r}; one of: {', '.join(self.STANDIN_LOGS)}") from None
        try:
            text = self.get(host, path).decode()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_ready(self, host: str | Host, timeout: float | None = None) -> None:
        """Wait until a host has booted (systemd running) and its sshd answers, e.g. after
        `sudo reboot` inside it (the lab boots a host that rebooted itself again)."""
        h = host if isinstance(host, Host) else self.host(host)
        timeout = timeout or BOOT_TIMEOUT
        deadline = time.monotonic() + timeout
        leader = None
        while leader is None and time.monotonic() < deadline:
            leader = self._leader(h, required=False)
            if leader is None:
                time.sleep(0.2)
        if leader is None:
            raise RuntimeError(f"{h.name}: systemd-nspawn did not start; see "
                               f"{self.state_dir / 'hosts' / h.name / 'console.log'}")
        state = container.wait_booted(leader, max(1.0, deadline - time.monotonic()))
        if state not in ("running", "degraded"):
            console = self.state_dir / "hosts" / h.name / "console.log"
            tail = console.read_text(errors="replace").splitlines()[-3:] if console.exists() else []
            raise RuntimeError(f"{h.name}: systemd did not finish booting in {timeout:.0f}s "
                               f"(state {state!r}); console: {' | '.join(tail)}")
        while not sshd_answers(h.address, 1.0):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{h.name}: sshd does not answer on {h.address}:22")
            time.sleep(0.2)

    def _inventory_yaml(self, hosts: list[Host]) -> str:
        common = f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes"
        groups: dict[str, dict] = {}
        for h in hosts:
            groups.setdefault(h.group, {"hosts": {}})["hosts"][h.name] = {
                "ansible_host": h.address,
                "ansible_user": "jetson",
                "ansible_ssh_private_key_file": str(self.key_file),
                "ansible_ssh_common_args": common,
            }
        doc = {"all": {"vars": {"deepstream_yolo_src": str(self.deepstream_yolo_src)},
                       "children": groups}}
        header = f"# Written by `y7deploy lab up` for lab {self.name!r}.\n"
        return header + yaml.safe_dump(doc, sort_keys=False)

    def _leader(self, h: Host, required: bool = True) -> int | None:
        for pid in container.nspawn_pids(self.names.marker, self.names.machine(h.name)):
            leader = container.leader_pid(pid)
            if leader:
                return leader
        if required:
            raise UserError(f"lab {self.name}: host {h.name} is not running")
        return None

    def _teardown(self, log) -> None:
        camera.stop(container.camera_pids(self.names.marker))
        for pid in container.wrapper_pids(self.names.marker):  # so nothing boots again
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pids = container.nspawn_pids(self.names.marker)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(pids))) as pool:
            list(pool.map(container.kill, pids))
        for point in container.mounts_under(self.state_dir):
            container.unmount(point)
        container.remove_cgroups(self.name)
        for link in network.links_with_prefix(self.names.prefix):
            network.delete_link(link)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if pids:
            log(f"lab {self.name}: stopped {len(pids)} hosts, removed its bridge and state")

    def _state(self) -> dict | None:
        return read_json(self.state_dir / "state.json")

    def _save(self, state: dict) -> None:
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_dir / "state.json")

    def _lock(self):
        return _FileLock(self.names.state_dir.parent / f".{self.name}.lock")


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.path, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()


def _require_root() -> None:
    if os.geteuid() != 0:
        raise NotAvailable("the lab needs root (containers, bridges and mounts): run it as root")


def _require_host_tools() -> None:
    _require_root()
    for tool, pkg in (("systemd-nspawn", "systemd-container"), ("ip", "iproute2"),
                      ("ssh-keygen", "openssh-client"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            raise NotAvailable(f"the lab needs {tool}: apt-get install {pkg} (or run `make setup`)")
    missing = missing_filesystems(Path("/proc/filesystems").read_text())
    if missing and shutil.which("modprobe"):  # a module not loaded yet is fine: load it, look again
        subprocess.run(["modprobe", "-q", "-a", *missing], capture_output=True)
        missing = missing_filesystems(Path("/proc/filesystems").read_text())
    if missing:
        raise NotAvailable(f"the lab needs {' and '.join(missing)} in the kernel "
                           f"(not in /proc/filesystems; modprobe {' '.join(missing)})")


def _check_writable_file(option: str, path: Path) -> None:
    """Bad input found after the hosts booted would waste the boot: look before."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is not a directory")


KERNEL_FILESYSTEMS = ("overlay", "tmpfs")  # each host's root, and its small /opt/y7deploy disk


def missing_filesystems(proc_filesystems: str) -> list[str]:
    """The filesystems the lab mounts that a /proc/filesystems text does not list."""
    have = {line.split()[-1] for line in proc_filesystems.splitlines() if line.strip()}
    return [fs for fs in KERNEL_FILESYSTEMS if fs not in have]


# Every container's systemd takes inotify instances; the kernel's default of 128 per
# user runs out at a handful of containers ("Failed to allocate manager object: Too
# many open files"). Docker and LXD docs raise the same limits.
SYSCTL_FLOORS = {"fs/inotify/max_user_instances": 8192, "fs/inotify/max_user_watches": 524288}


def _raise_kernel_limits(log) -> None:
    for key, floor in SYSCTL_FLOORS.items():
        path = Path("/proc/sys") / key
        try:
            if int(path.read_text()) < floor:
                path.write_text(f"{floor}\n")
                log(f"raised {key.replace('/', '.')} to {floor} (many containers need it)")
        except OSError as exc:
            raise NotAvailable(f"the lab needs {key.replace('/', '.')} >= {floor}: {exc.strerror}")


def _ssh_keygen(path: Path, comment: str) -> None:
    for p in (path, Path(f"{path}.pub")):
        p.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)


def _chroot(root: Path, cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(["chroot", str(root), *cmd], input=stdin, capture_output=True, text=True,
                          env=container.GUEST_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"chroot {root} {' '.join(cmd)}: {proc.stderr.strip()}")


def sshd_answers(address: str, timeout: float = 2.0) -> bool:
    """True when sshd answers with its version banner (a TCP accept alone is not enough)."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False
