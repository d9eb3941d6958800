"""The shared, session-scoped `lab` fixture: one simulated Jetson fleet per test run.

Five hosts: one per JetPack profile (jetson01 nano-jp461, jetson02 xavier-nx-jp513,
jetson03 orin-nano-jp61, jetson04 agx-orin-jp62) and a second Orin Nano, jetson05, so
one device class has two hosts: a push builds its engine once and copies it to the other,
and the canaries (one per class) leave a second wave (tests/deploy's abort in wave 2).
The lab inventory lists hosts by group, so `hosts: all` reaches them in the order
jetson01, 02, 03, 05, 04; tests take host counts, orders and waves from the lab, not from
this list. The lab name comes from Y7DEPLOY_TEST_LAB (default y7test). Several test runs
may share this machine: a run takes a lease on its lab name for the whole session; when
the default name is leased by another run it moves on to y7test-2, y7test-3... (a name
set explicitly in the environment is waited for instead).
"""

from __future__ import annotations

import contextlib
import fcntl
import os

import pytest

LAB_PROFILES = ("nano-jp461", "xavier-nx-jp513", "orin-nano-jp61", "agx-orin-jp62", "orin-nano-jp61")
MAX_PARALLEL_RUNS = 8


def _lease(name: str, wait: bool):
    from y7deploy.lab.naming import state_root

    state_root().mkdir(parents=True, exist_ok=True)
    f = open(state_root() / f".{name}.lease", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        f.close()
        return None
    return f


@pytest.fixture(scope="session")
def lab():
    """The running Lab (y7deploy.lab.Lab), torn down at the end of the session."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (systemd-nspawn, bridges, mounts)")
    from y7deploy.lab import Lab

    explicit = os.environ.get("Y7DEPLOY_TEST_LAB")
    if explicit:
        name, lease = explicit, _lease(explicit, wait=True)
    else:
        for i in range(1, MAX_PARALLEL_RUNS + 1):
            name = "y7test" if i == 1 else f"y7test-{i}"
            lease = _lease(name, wait=False)
            if lease:
                break
        else:
            raise RuntimeError(f"{MAX_PARALLEL_RUNS} test runs already hold a lab")
    the_lab = Lab(name)
    try:
        the_lab.up(hosts=len(LAB_PROFILES), profiles=list(LAB_PROFILES), log=lambda *_: None)
        yield the_lab
    finally:
        try:
            the_lab.down(log=lambda *_: None)
        finally:
            lease.close()


@pytest.fixture
def lab_fault(lab):
    """`with lab_fault("jetson01", "link-down"): ...` applies a fault and always clears it."""

    @contextlib.contextmanager
    def fault(host: str, kind: str):
        lab.fault(host, kind)
        try:
            yield lab
        finally:
            lab.fault(host, "clear")

    return fault


@pytest.fixture
def lab_host(lab):
    """`lab_host("orin-nano-jp61")` -> the Host of that profile in the shared lab."""

    def by_profile(profile: str):
        for h in lab.hosts:
            if h.profile == profile:
                return h
        raise LookupError(profile)

    return by_profile
