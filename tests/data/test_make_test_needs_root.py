"""`make test` as a non-root user fails with one line saying why, instead of passing with
every lab test skipped."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_make_test_as_nobody_says_it_needs_root_and_fails():
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("make"):
        pytest.skip("needs root and setpriv to run make as another user")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    run = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "make", "-s", "-C", str(REPO), "test"],
        env=env, capture_output=True, text=True,
    )
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode != 0
    assert len(lines) == 1 and "make test needs root" in lines[0], lines
