"""What the fleet commands print when a host fails, run as a user runs them (the installed
`y7deploy` script in a subprocess), against a real TCP peer that drops the SSH handshake."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

Y7DEPLOY = str(Path(sys.executable).parent / "y7deploy")


@pytest.fixture
def banner_dropper():
    """A port that accepts TCP and closes before the SSH banner (a half-dead sshd, a wrong service)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                peer, _ = server.accept()
            except OSError:
                return
            peer.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


def y7deploy(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([Y7DEPLOY, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_dropped_handshake_is_one_result_without_paramiko_tracebacks(banner_dropper, tmp_path):
    run = y7deploy("ping", "-i", f"127.0.0.1:{banner_dropper},", home=tmp_path)
    assert run.returncode == 3
    assert run.stderr == ""  # paramiko retried and logged each try; none of it shows
    assert run.stdout.startswith("127.0.0.1 | UNREACHABLE! => ")
    assert run.stdout.count("Error reading SSH protocol banner") == 1

    as_json = y7deploy("ping", "-i", f"127.0.0.1:{banner_dropper},", "--json", home=tmp_path)
    assert as_json.returncode == 3 and as_json.stderr == ""
    result = json.loads(as_json.stdout)["127.0.0.1"]
    assert result["error"] == "unreachable" and "Error reading SSH protocol banner" in result["msg"]


def test_each_try_is_in_the_debug_log_behind_v_and_paramiko_behind_vv(banner_dropper, tmp_path):
    run = y7deploy("ping", "-v", "-i", f"127.0.0.1:{banner_dropper},", home=tmp_path)
    assert run.returncode == 3
    assert "y7deploy.fleet.connection DEBUG 127.0.0.1: try 1 of 3: SSH handshake" in run.stderr
    assert "paramiko" not in run.stderr
    run = y7deploy("ping", "-vv", "-i", f"127.0.0.1:{banner_dropper},", home=tmp_path)
    assert run.returncode == 3
    assert "paramiko.transport" in run.stderr and "Error reading SSH protocol banner" in run.stderr


def test_ssh_config_of_the_user_is_read_by_default(banner_dropper, tmp_path):
    """An alias known only to ~/.ssh/config reaches the HostName and Port it names."""
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(
        f"Host y7-alias\n    HostName 127.0.0.1\n    Port {banner_dropper}\n    User nobody\n")
    run = y7deploy("ping", "-i", "y7-alias,", "--json", home=tmp_path)
    assert run.returncode == 3, run.stdout + run.stderr
    msg = json.loads(run.stdout)["y7-alias"]["msg"]
    assert f"127.0.0.1:{banner_dropper}" in msg and "Error reading SSH protocol banner" in msg
