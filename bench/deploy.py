"""Bench: the same small deploy to N lab hosts by y7deploy, ansible-playbook and pyinfra.

The deploy: upload a 50 MB file, render two templates, copy a unit file, and
daemon-reload + restart the unit when anything changed (bench/deploy/deploy.yml, which
y7deploy and ansible-playbook run unchanged; bench/deploy/pyinfra_deploy.py is the same
steps for pyinfra). Each tool gets a fresh first run (hosts reset between rounds) and a
no-change re-run; the floor is N parallel `ssh host true` with OpenSSH.

    .venv/bin/python bench/deploy.py [--hosts 10] [--repeat 3] [--only y7deploy,pyinfra]

Prints the median of each figure and the ratios. Needs root (it brings up its own lab,
named y7bench, and takes it down at the end unless --keep).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent / "deploy"
BIN = Path(sys.executable).parent
BLOB_MB = 50
RESET = ("systemctl stop y7bench-app.service 2>/dev/null; "
         "rm -rf /opt/y7bench /etc/systemd/system/y7bench-app.service; systemctl daemon-reload")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])}... failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def ssh_floor(lab, hosts) -> float:
    """N `ssh host true` started at once; the time until the last one ends."""
    start = time.perf_counter()
    procs = [subprocess.Popen(lab.ssh_command(h.name, "true"), stdout=subprocess.DEVNULL) for h in hosts]
    for p in procs:
        if p.wait() != 0:
            sys.exit(f"ssh floor: ssh failed with {p.returncode}")
    return time.perf_counter() - start


def pyinfra_inventory(lab, path: Path) -> None:
    hosts = []
    for h in lab.hosts:
        hosts.append((h.name, {"ssh_hostname": h.address, "ssh_user": "jetson",
                               "ssh_key": str(lab.key_file),
                               "ssh_known_hosts_file": str(lab.known_hosts),
                               "ssh_strict_host_key_checking": "yes"}))
    path.write_text(f"hosts = {hosts!r}\n")


def check_deployed(lab, hosts) -> None:
    def one(h):
        out = lab.root(h.name, "systemctl is-active y7bench-app.service; stat -c %s /opt/y7bench/model.bin")
        return out.stdout.split()
    with ThreadPoolExecutor(len(hosts)) as pool:
        for h, words in zip(hosts, pool.map(one, hosts)):
            if words[:2] != ["active", str(BLOB_MB << 20)]:
                sys.exit(f"{h.name}: deploy did not land: {words}")


def reset(lab, hosts) -> None:
    with ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(lambda h: lab.root(h.name, RESET), hosts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lab", default="y7bench")
    ap.add_argument("--only", default="y7deploy,pyinfra,ansible")
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = ap.parse_args()
    from y7deploy.lab import Lab

    lab = Lab(args.lab)
    lab.up(hosts=args.hosts, log=lambda *_: None)
    hosts = lab.hosts
    work = Path(tempfile.mkdtemp(prefix="y7bench-"))
    blob = work / "model.bin"
    blob.write_bytes(os.urandom(BLOB_MB << 20))
    inventory = str(lab.inventory_path)
    pyinv = work / "pyinfra_inventory.py"
    pyinfra_inventory(lab, pyinv)
    playbook = str(HERE / "deploy.yml")
    commands = {
        "y7deploy": ([str(BIN / "y7deploy"), "play", playbook, "-i", inventory, "-e", f"blob={blob}",
                      "--forks", str(args.hosts)], {}),
        "pyinfra": ([str(BIN / "pyinfra"), "-y", "--parallel", str(args.hosts), "--data", f"blob={blob}",
                     str(pyinv), str(HERE / "pyinfra_deploy.py")], {}),
        "ansible": ([str(BIN / "ansible-playbook"), "-i", inventory, playbook, "-e", f"blob={blob}",
                     "-f", str(args.hosts)],
                    {"ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "LC_ALL": "C.UTF-8",
                     "ANSIBLE_RETRY_FILES_ENABLED": "0"}),
    }
    results: dict[str, tuple[float, float]] = {}
    try:
        floor = statistics.median(ssh_floor(lab, hosts) for _ in range(max(3, args.repeat)))
        for tool in [t for t in args.only.split(",") if t in commands]:
            cmd, env = commands[tool]
            firsts, reruns = [], []
            load_at = os.getloadavg()[0]
            for _ in range(args.repeat):
                reset(lab, hosts)
                firsts.append(timed(cmd, env))
                check_deployed(lab, hosts)
                reruns.append(timed(cmd, env))
            results[tool] = (statistics.median(firsts), statistics.median(reruns))
            print(f"  {tool:<9} first {results[tool][0]:6.2f} s   re-run {results[tool][1]:6.2f} s   "
                  f"(runs: {', '.join(f'{t:.2f}' for t in firsts)} / {', '.join(f'{t:.2f}' for t in reruns)}; "
                  f"load {load_at:.1f} -> {os.getloadavg()[0]:.1f})",
                  flush=True)
    finally:
        reset(lab, hosts)
        if not args.keep:
            lab.down(log=lambda *_: None)
        blob.unlink(missing_ok=True)

    print(f"\nsmall deploy to {args.hosts} lab hosts, medians of {args.repeat} "
          f"(50 MB upload, 2 templates, unit file, daemon-reload + restart), load average at the end "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'tool':<10} {'first run':>10} {'no-change':>10}")
    for tool, (first, rerun) in results.items():
        print(f"{tool:<10} {first:>9.2f}s {rerun:>9.2f}s")
    print(f"{'ssh floor':<10} {floor:>9.2f}s   ({args.hosts} parallel `ssh host true`)")
    if "y7deploy" in results:
        y_first, y_rerun = results["y7deploy"]
        for other in ("pyinfra", "ansible"):
            if other in results:
                print(f"y7deploy vs {other}: first run {results[other][0] / y_first:.1f}x faster, "
                      f"no-change re-run {results[other][1] / y_rerun:.1f}x faster")
        print(f"y7deploy no-change re-run / ssh floor: {y_rerun / floor:.1f}x")


if __name__ == "__main__":
    main()
