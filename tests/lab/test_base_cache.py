"""The base-root cache: pruning an outdated root never pulls it from under a `lab up`.

Runs without the lab and without debootstrap: the roots here are directories with an
os-release, which is all the cache looks at; the holder is a second process, as another
`lab up` would be.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from y7deploy.lab import base

HOLD = textwrap.dedent("""
    import sys
    from y7deploy.lab.base import base_in_use
    with base_in_use(log=print) as root:
        print("holding", root, flush=True)
        sys.stdin.read()  # until the test closes our stdin
    print("released", flush=True)
""")


def fake_root(path: Path) -> Path:
    (path / "etc").mkdir(parents=True)
    (path / "etc" / "os-release").write_text("ID=debian\n")
    return path


def test_pruning_skips_a_base_that_another_lab_up_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("Y7DEPLOY_LAB_CACHE", str(tmp_path))
    held = fake_root(tmp_path / f"{base.SUITE}-{base.base_key()}")  # the holder's key, already built
    fresh = fake_root(tmp_path / f"{base.SUITE}-{'0' * 16}")  # what this process just built
    unused = fake_root(tmp_path / f"{base.SUITE}-{'1' * 16}")
    building = fake_root(tmp_path / f"{base.SUITE}-{'2' * 16}.tmp-999")

    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().split() == ["holding", str(held)]
        removed: list[str] = []
        base._prune_old_bases(tmp_path, keep=fresh, log=removed.append)
        assert held.exists() and fresh.exists() and building.exists()
        assert not unused.exists()
        assert removed == [f"removing the outdated lab base root {unused}"]
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait()

    base._prune_old_bases(tmp_path, keep=fresh, log=lambda line: None)
    assert not held.exists() and fresh.exists(), "once let go, an unmounted outdated root goes"


def test_base_in_use_returns_the_cached_root_without_building(tmp_path, monkeypatch):
    monkeypatch.setenv("Y7DEPLOY_LAB_CACHE", str(tmp_path))
    cached = fake_root(tmp_path / f"{base.SUITE}-{base.base_key()}")
    monkeypatch.setenv("PATH", "/nonexistent")  # no debootstrap to call: the cache must answer
    with base.base_in_use(log=lambda line: None) as root:
        assert root == cached
