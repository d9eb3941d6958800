"""How long `lab up` of 5 hosts takes: cold (base root built from scratch) and warm.

Cold uses a fresh, temporary base cache (so debootstrap runs; needs the Debian mirror);
warm reuses it. Prints each run with the load average at its start, the warm median and
cold / warm in the same run. Root only; not run by pytest.
Usage: python bench/lab_up.py [--warm-runs 3] [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HOSTS = 5


def timed_up(name: str) -> tuple[float, float]:
    from y7deploy.lab import Lab

    lab = Lab(name)
    try:
        t0 = time.monotonic()
        lab.up(hosts=HOSTS, log=lambda *_: None)
        up = time.monotonic() - t0
        rows = lab.status()
        assert all(r["state"] == "running" and r["ssh"] == "ok" for r in rows), rows
    finally:
        t0 = time.monotonic()
        lab.down(log=lambda *_: None)
    return up, time.monotonic() - t0


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warm-runs", type=int, default=3)
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/lab_up.py needs root (the lab does)", file=sys.stderr)
        return 2
    name = f"y7bench{os.getpid() % 10000}"
    cache = tempfile.mkdtemp(prefix="y7lab-bench-cache-", dir="/var/tmp")
    os.environ["Y7DEPLOY_LAB_CACHE"] = cache
    cold = None
    try:
        if not args.skip_cold:
            started_at = load()
            cold, down = timed_up(name)
            print(f"cold lab up ({HOSTS} hosts, incl. debootstrap): {cold:.1f} s   (down {down:.1f} s; "
                  f"load at start {started_at})", flush=True)
        else:
            os.environ.pop("Y7DEPLOY_LAB_CACHE")  # warm against the shared cache
        warm = []
        for i in range(args.warm_runs):
            started_at = load()
            up, down = timed_up(name)
            warm.append(up)
            print(f"warm lab up run {i + 1}: {up:.1f} s   (down {down:.1f} s; load at start {started_at})", flush=True)
        median = statistics.median(warm)
        print(f"warm lab up ({HOSTS} hosts): median {median:.1f} s over {len(warm)} runs; load average {load()}")
        if cold is not None:
            print(f"cold / warm median: {cold / median:.0f}x")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
