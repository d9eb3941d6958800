"""`y7deploy demo --quick`: every step of the whole path runs, echoed, in order, and leaves no lab behind.

The quick mode is the full demo with fewer, smaller images and one epoch per training,
so it fits the suite; it runs the same commands. The fleet's outcome is read from the
status the devices reported (before the lab went down) and from the ledger's SQLite
file, read here with sqlite3 rather than through `y7deploy history`.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.release import open_release

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# The echoed commands, in order; each pattern must match one `$ ...` line after the previous one.
STEPS = [
    r"\$ cd /\S+/y7deploy-demo",
    r"\$ y7deploy dataset demo --out shapes-cvat\.zip",
    r"\$ y7deploy dataset import shapes-cvat\.zip --out datasets/shapes",
    r"\$ y7deploy dataset preview \S+data\.yaml --out preview\.png",
    r"\$ y7deploy train .*--cfg yolov7-tiny .*--device cpu .*--name v1",
    r"\$ y7deploy export runs/train/v1/weights/best\.pt .*--version 1\.0\.0",
    r"\$ y7deploy lab up --name (\S+) --profile orin-nano-jp61 --profile orin-nano-jp61 --profile xavier-nx-jp513",
    r"\$ cat > inventory/group_vars/all\.yml <<'EOF'",
    r"\$ y7deploy provision -i inventory",
    r"\$ y7deploy push shapes-1\.0\.0 -i inventory",
    r"\$ y7deploy status -i inventory",
    r"\$ y7deploy train .*--weights runs/train/v1/weights/best\.pt .*--name v2",
    r"\$ y7deploy export runs/train/v2/weights/best\.pt .*--version 2\.0\.0",
    r"\$ y7deploy push shapes-2\.0\.0 -i inventory .*--serial 1",
    r"\$ y7deploy rollback -i inventory",
    r"\$ y7deploy status -i inventory",
    r"\$ y7deploy history -i inventory",
    r"\$ y7deploy lab down --name (\S+)",
]
HOSTS = ("jetson01", "jetson02", "jetson03")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the demo's lab needs root")
    work = tmp_path_factory.mktemp("demo") / "y7deploy-demo"
    lab = f"y7demo-t{os.getpid()}"[:32]
    proc = subprocess.run([sys.executable, "-m", "y7deploy", "demo", "--quick", "--workdir", str(work),
                           "--lab-name", lab], capture_output=True, text=True, timeout=1800)
    return proc, work, lab


def test_the_demo_runs_every_step_in_order(demo_run):
    proc, work, lab = demo_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    echoed = [line for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert len(echoed) == len(STEPS), echoed
    for line, pattern in zip(echoed, STEPS):
        assert re.fullmatch(pattern + ".*", line), (pattern, line)
    assert f"--name {lab} " in echoed[6] and echoed[-1].endswith(f"--name {lab}")


def test_everything_it_made_is_under_its_folder(demo_run):
    _, work, _ = demo_run
    assert (work / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (work / "datasets" / "shapes" / "data.yaml").is_file()
    for run in ("v1", "v2"):
        assert (work / "runs" / "train" / run / "weights" / "best.pt").stat().st_size > 0
    v1, v2 = (open_release(work / "releases" / f"shapes-{v}") for v in ("1.0.0", "2.0.0"))
    assert v1.names == v2.names == ["circle", "square", "triangle"]
    assert v1.manifest["files"]["model.onnx"]["sha256"] != v2.manifest["files"]["model.onnx"]["sha256"]
    assert (work / "inventory" / "hosts.yml").is_file() and list(work.rglob("*ledger*.sqlite"))
    assert list((work / ".cache" / "y7deploy" / "local-sums").iterdir()), "push's checksum cache is here too"


def test_v2_went_out_in_waves_a_canary_of_each_device_class_first(demo_run):
    proc, _, _ = demo_run
    push_v2 = proc.stdout.split("$ y7deploy push shapes-2.0.0")[1].split("$ y7deploy")[0]
    waves = re.findall(r"wave (\d)/(\d): (.+)", push_v2)
    assert [w[:2] for w in waves] == [("1", "2"), ("2", "2")]
    first, second = (set(w[2].split(", ")) for w in waves)
    # jetson01 and jetson02 are the two Orin Nanos (one class), jetson03 the Xavier NX.
    assert "jetson03" in first and len(first & {"jetson01", "jetson02"}) == 1
    assert second == {"jetson01", "jetson02"} - first


def test_the_fleet_ends_on_v1_after_the_rollback(demo_run):
    proc, work, _ = demo_run
    last_status = proc.stdout.split("$ y7deploy status -i inventory")[-1].split("$ y7deploy history")[0]
    for host in HOSTS:
        row = next(line for line in last_status.splitlines() if line.split()[:1] == [host])
        assert row.split()[1:3] == ["shapes-1.0.0", "shapes-2.0.0"], row
    ledger = next(work.rglob("*ledger*.sqlite"))
    with sqlite3.connect(ledger) as db:
        rows = db.execute("SELECT r.kind, h.host, h.from_release, h.to_release, h.result "
                          "FROM hosts h JOIN runs r USING (run_id) ORDER BY h.id").fetchall()
    for host in HOSTS:
        assert [r[0:1] + r[2:] for r in rows if r[1] == host] == [
            ("push", None, "shapes-1.0.0", "committed"),
            ("push", "shapes-1.0.0", "shapes-2.0.0", "committed"),
            ("rollback", "shapes-2.0.0", "shapes-1.0.0", "rolled_back"),
        ]


def test_no_lab_is_left_behind(demo_run):
    _, _, lab = demo_run
    from y7deploy.lab import Lab

    assert Lab(lab).hosts == []
    machines = subprocess.run(["machinectl", "list", "--no-legend"], capture_output=True, text=True).stdout
    assert lab not in machines


def test_ctrl_c_stops_the_demo_and_its_lab_still_goes_down(tmp_path):
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group) during the first
    step: the step stops, no later step starts, and `lab down` runs all the same. (Where
    the lab is already up, the same `finally` takes it down; that was run by hand.)"""
    if os.geteuid() != 0:
        pytest.skip("the demo's lab needs root")
    lab = f"y7demo-i{os.getpid()}"[:32]
    proc = subprocess.Popen(
        [sys.executable, "-m", "y7deploy", "demo", "--quick", "--workdir", str(tmp_path / "y7deploy-demo"),
         "--lab-name", lab],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, as a shell gives a foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # pytest may ignore SIGINT
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("$ y7deploy dataset demo"):
            os.killpg(proc.pid, signal.SIGINT)
            break
    lines += proc.stdout.read().splitlines()
    assert proc.wait() != 0
    echoed = [line for line in lines if line.startswith("$ ")]
    assert echoed[-1] == f"$ y7deploy lab down --name {lab}", lines
    assert not any(line.startswith(("$ y7deploy train", "$ y7deploy lab up")) for line in echoed), echoed
    assert "== Tear the lab down" in lines and not any(line.startswith("Done in") for line in lines)
    from y7deploy.lab import Lab

    assert Lab(lab).hosts == []
