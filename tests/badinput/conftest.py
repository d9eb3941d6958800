"""What every bad-input test shares: the real CLI in a subprocess, the one-line verdict, device snapshots.

A refusal is: exit 2, exactly one non-empty line on stderr that starts with ``error:``
and names what is wrong and where, no traceback. For input that goes to devices the
test also proves that nothing on any lab host changed: every file under the watched
directories is listed with its type, mode and link target, and hashed, over SSH.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

WATCHED = ("/opt/y7deploy",)  # the device layout; bad plays below aim inside it


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "y7deploy", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300)


def assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 and one ``error:`` line naming every needle (file, line, value); returns the line."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    missing = [n for n in needles if n not in line]
    assert not missing, f"{line!r} does not name {missing}"
    return line


@pytest.fixture
def y7(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """`y7("dataset", "check", "x.yaml")` runs the CLI in this test's tmp_path."""
    return lambda *args: run_cli(*args, cwd=tmp_path)


@pytest.fixture
def refused() -> Callable[..., str]:
    return assert_refused


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """A real release bundle (yolov7-tiny at 64 px, random weights), exported by the CLI."""
    import torch

    from y7deploy.model.yolo import build_model, resolve_cfg

    work = tmp_path_factory.mktemp("bundle")
    torch.manual_seed(0)
    torch.save(build_model(resolve_cfg("yolov7-tiny"), nc=3).state_dict(), work / "tiny.pt")
    proc = run_cli("export", "tiny.pt", "--cfg", "yolov7-tiny", "--name", "shapes", "--version", "1.0.0",
                   "--img-size", "64", "--out", "releases", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work / "releases" / "shapes-1.0.0"


def _host_listing(lab, host: str, dirs: tuple[str, ...]) -> str:
    """Every entry under dirs (type, mode, owner, link target) and every file's sha256, as seen over SSH."""
    script = "".join(
        f"if [ -e '{d}' ]; then find '{d}' -xdev -printf '%p %y %m %u:%g %l\\n' | LC_ALL=C sort; "
        f"find '{d}' -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum; "
        f"else echo '{d} absent'; fi\n" for d in dirs)
    # Root reads everything (state files may be private); the lab's user has passwordless sudo.
    proc = subprocess.run(lab.ssh_command(host, "sudo -n sh -s"), input=script, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"snapshot of {host} failed: {proc.stderr}"
    return proc.stdout


def fleet_snapshot(lab, dirs: tuple[str, ...] = WATCHED) -> dict[str, str]:
    with concurrent.futures.ThreadPoolExecutor(len(lab.hosts)) as pool:
        listings = pool.map(lambda h: _host_listing(lab, h.name, dirs), lab.hosts)
        return dict(zip((h.name for h in lab.hosts), listings))


@pytest.fixture(scope="module")
def fleet_baseline(lab) -> dict[str, str]:
    """The watched directories of every host when a module's first case starts.

    Bad input changes nothing, so each case compares against this one listing instead
    of taking its own "before"; a case that did change something fails there, first.
    """
    return fleet_snapshot(lab)


@pytest.fixture
def snapshot(lab) -> Callable[..., dict[str, str]]:
    """`snapshot()` -> {host: listing of /opt/y7deploy}; `snapshot(dirs)` for other directories."""
    return lambda dirs=WATCHED: fleet_snapshot(lab, dirs)
