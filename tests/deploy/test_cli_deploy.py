"""The deploy commands' own arguments: bad ones are one line and exit 2 before any host is
touched (the example inventory's hosts do not exist, so nothing could be touched)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

INVENTORY = str(Path(__file__).resolve().parents[2] / "inventory")


def y7(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "y7deploy", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("args, named", [
    (["push", "some-1.0.0", "-i", INVENTORY, "--lock-timeout", "-1"], "'--lock-timeout': -1.0"),
    (["rollback", "-i", INVENTORY, "--lock-timeout", "-5"], "'--lock-timeout': -5.0"),
    (["rollback", "-i", INVENTORY, "--serial", "abc"], "--serial item 'abc'"),
])
def test_a_bad_option_is_one_line_and_exit_2(args, named):
    proc = y7(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_history_of_a_host_never_pushed_says_so(tmp_path):
    import os

    proc = y7("history", "--host", "jetson99", env={**os.environ, "Y7DEPLOY_LEDGER": str(tmp_path / "l.sqlite")})
    assert proc.returncode == 0 and proc.stdout.startswith("no push or rollback recorded for jetson99")
