"""What the deploy tests on the lab share: real release bundles (the exporter at a tiny width
and 64 px), an inventory of the lab with the cameras and gate settings a push needs, and
ways to read what happened on a device (the stand-ins' call and event logs, state.json).

Fixtures are imported by the test modules (`from deploy_lab_kit import ...`).

The lab is the shared session `lab` fixture (five hosts, two of one device class);
Y7DEPLOY_DEPLOY_LAB=NAME runs these tests on a lab you brought up yourself instead, which
needs two hosts of one class too for the second-wave tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

SOURCE = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"
GATE_VARS = {
    "y7_sources": [SOURCE],
    "y7_perf_interval_s": 1,
    "health_window": 3,
    "health_deadline": 20,
    "min_fps": 5,
    "commit_deadline": 30,
}


def export(out: Path, name: str, version: str, seed: int, width: float = 0.125, **kw: Any) -> Path:
    """A real release bundle: yolov7-tiny at `width` of its channels (1/8 unless told),
    exported at 64 px and verified; `kw` goes to the exporter (opset, dynamic, ...)."""
    import torch

    from y7deploy.model.export import export_model
    from y7deploy.model.yolo import build_model, resolve_cfg

    torch.manual_seed(seed)
    cfg = dict(resolve_cfg("yolov7-tiny", form="training"), width_multiple=width)
    model = build_model(cfg, nc=2)
    return export_model(model, ["cat", "dog"], name=name, version=version, out=out, img_size=[64], **kw).release.path


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> Path:
    """releases/: tiny-1.0.0, tiny-2.0.0, tinyop-14 (opset 14), tinydyn-1 (dynamic batch).

    Exported once per session, in one folder: every module that imports this fixture gets its
    own instance of it, and a second export of tiny-1.0.0 (another `created`, so another
    manifest) is a re-exported id, which push refuses on the devices that keep the first."""
    import torch

    out = tmp_path_factory.getbasetemp() / "deploy-releases"
    if (out / ".exported").exists():
        return out
    torch.set_num_threads(1)
    out.mkdir(exist_ok=True)
    export(out, "tiny", "1.0.0", 1)
    export(out, "tiny", "2.0.0", 2)
    export(out, "tinyop", "14", 3, opset=14)
    export(out, "tinydyn", "1", 4, dynamic=True)
    (out / ".exported").touch()
    return out


@pytest.fixture(scope="session")
def deploy_lab(request, tmp_path_factory):
    """The lab, provisioned once per session (parser built per CUDA, app and guard units
    installed), for tests/deploy and tests/faults alike: provision does not read the gate
    vars or the hosts' sources their inventories differ in. Every module that imports this
    fixture gets its own instance of it, so a mark in the session's temp folder says it is done."""
    name = os.environ.get("Y7DEPLOY_DEPLOY_LAB")
    if not name:
        lab = request.getfixturevalue("lab")
    elif os.geteuid() != 0:
        pytest.skip("the lab needs root")
    else:
        from y7deploy.lab import Lab

        lab = Lab(name)
    done = tmp_path_factory.getbasetemp() / f"provisioned-{lab.name}"
    if not done.exists():
        root = tmp_path_factory.mktemp("provision")
        proc = LabFleet(lab, root, root).y7("provision", "-i", str(root / "inventory"))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        done.touch()
    return lab


class LabFleet:
    """The lab as a fleet to push to: runs the CLI, reads the devices."""

    def __init__(self, lab: Any, releases: Path, root: Path):
        self.lab = lab
        self.releases = releases
        self.inventory = root / "inventory"
        self.ledger = root / "ledger.sqlite"
        (self.inventory / "group_vars").mkdir(parents=True)
        (self.inventory / "hosts.yml").write_text(Path(lab.inventory_path).read_text())
        (self.inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(GATE_VARS))
        self.hosts = [h.name for h in lab.hosts]

    def y7(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "Y7DEPLOY_LEDGER": str(self.ledger)}
        return subprocess.run([sys.executable, "-m", "y7deploy", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)

    def run(self, command: str, *args: str) -> tuple[int, dict[str, Any], subprocess.CompletedProcess]:
        """`push|rollback ... --json`: (exit code, the JSON report, the process)."""
        extra = ["--releases", str(self.releases)] if command == "push" else []
        proc = self.y7(command, *args, "-i", str(self.inventory), *extra, "--json")
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            report = {}
        return proc.returncode, report, proc

    def push(self, release: str, *args: str):
        return self.run("push", release, *args)

    def root(self, host: str, command: str) -> str:
        return self.lab.root(host, command).stdout

    def trtexec_calls(self, host: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.root(host, "cat /var/log/trtexec-standin.log 2>/dev/null").splitlines()
                if line.strip()]

    def app_events(self, host: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in
                self.root(host, "cat /var/log/deepstream-standin.log 2>/dev/null").splitlines() if line.strip()]

    def state(self, host: str) -> dict[str, Any]:
        text = self.root(host, "cat /opt/y7deploy/state.json 2>/dev/null")
        return json.loads(text) if text.strip() else {}

    def current(self, host: str) -> str:
        return self.root(host, "readlink /opt/y7deploy/current").strip().rpartition("/")[2]

    def snapshot(self, host: str) -> str:
        """Every path under /opt/y7deploy with type, size, mode, owner, mtime, link target and sha256."""
        return self.root(host, "cd /opt/y7deploy && find . -printf '%p %y %s %m %u %T@ %l\\n' | sort && "
                               "find . -type f -exec sha256sum {} + | sort")

    def classes(self) -> dict[str, list[str]]:
        by_profile: dict[str, list[str]] = {}
        for h in self.lab.hosts:
            by_profile.setdefault(h.profile, []).append(h.name)
        return by_profile

    def wait_for(self, what: str, predicate, timeout: float = 180.0, every: float = 0.5) -> Any:
        """Poll until predicate() is truthy (an event on a device); fail naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what}")
            time.sleep(every)

    def reboot(self, host: str) -> None:
        """`systemctl reboot` on the host as its operator would, then wait for the new boot to answer SSH."""
        boot_id = self.lab.get(host, "/proc/sys/kernel/random/boot_id")
        subprocess.run(self.lab.ssh_command(host, "sudo systemctl reboot"), capture_output=True, timeout=30)

        def new_boot() -> bool:
            try:
                return self.lab.get(host, "/proc/sys/kernel/random/boot_id") != boot_id
            except Exception:  # noqa: BLE001 - between boots there is no PID 1 to enter
                return False

        self.wait_for(f"{host} to boot again", new_boot)
        self.lab.wait_ready(host, timeout=180)

    def popen(self, *args: str) -> subprocess.Popen:
        """The CLI started in the background (text pipes), on this fleet's ledger."""
        return subprocess.Popen([sys.executable, "-m", "y7deploy", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "Y7DEPLOY_LEDGER": str(self.ledger)})

    @contextlib.contextmanager
    def fault(self, host: str, kind: str):
        self.lab.fault(host, kind)
        try:
            yield
        finally:
            self.lab.fault(host, "clear")

    def host_of(self, profile: str) -> str:
        return next(h.name for h in self.lab.hosts if h.profile == profile)


@pytest.fixture(scope="session")
def lab_fleet(deploy_lab, releases, tmp_path_factory) -> LabFleet:
    """The provisioned lab as a fleet of all its hosts, with the gate settings of GATE_VARS."""
    return LabFleet(deploy_lab, releases, tmp_path_factory.mktemp("deploy"))
