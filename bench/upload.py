"""One big upload to one lab host: y7deploy's upload vs OpenSSH scp vs paramiko's default SFTP put.

Each run is a fresh upload (the target is removed first) and includes opening the
connection, as a deploy would. y7deploy's upload also hashes the file on both ends
and renames it into place; its memo of local hashes is cleared before each run. Runs
are interleaved so a noisy machine hurts all three alike. Prints every run, the
medians in MiB/s and the ratios to scp; then the no-change re-upload time.

Usage: python bench/upload.py [--lab NAME] [--size-mb 200] [--runs 3]
(without --lab a one-host lab is started and removed; root only; not run by pytest)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEST_DIR = "/home/jetson"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", help="use this running lab (default: start a one-host lab)")
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/upload.py needs root (the lab does)", file=sys.stderr)
        return 2

    from y7deploy.lab import Lab

    lab = Lab(args.lab or f"y7bench-up{os.getpid() % 10000}")
    if not args.lab:
        lab.up(hosts=1, profiles=["orin-nano-jp61"], log=lambda *_: None)
    try:
        with tempfile.TemporaryDirectory(prefix="y7-upload-bench-", dir="/var/tmp") as tmp:
            local = Path(tmp) / "payload.bin"
            with open(local, "wb") as f:
                for _ in range(args.size_mb):
                    f.write(os.urandom(1 << 20))
            return run(lab, local, args)
    finally:
        if not args.lab:
            lab.down(log=lambda *_: None)


def run(lab, local: Path, args) -> int:
    from y7deploy.fleet import transfer
    from y7deploy.fleet.connection import Connection
    from y7deploy.fleet.hostspec import inventory_specs
    from y7deploy.fleet.inventory import load_inventory

    inv = load_inventory(lab.inventory_path)
    host = inv.hosts[0]
    spec = inventory_specs(inv, [host])[host]
    mib = local.stat().st_size / (1 << 20)
    ssh_opts = ["-i", spec.key_files[0], "-o", f"UserKnownHostsFile={spec.known_hosts_files[0]}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
    target = f"{spec.user}@{spec.host}"

    def clean(conn) -> None:
        conn.run(f"rm -f {DEST_DIR}/bench.* {DEST_DIR}/.bench.*; rm -rf ~/.cache/y7deploy")

    def y7deploy_upload() -> float:
        transfer.forget_local_sums()
        t0 = time.perf_counter()
        with Connection(spec) as conn:
            changed = conn.put_file(local, f"{DEST_DIR}/bench.y7")
        assert changed
        return time.perf_counter() - t0

    def scp_upload() -> float:
        t0 = time.perf_counter()
        subprocess.run(["scp", "-q", *ssh_opts, str(local), f"{target}:{DEST_DIR}/bench.scp"], check=True)
        return time.perf_counter() - t0

    def sftp_upload() -> float:
        import paramiko

        t0 = time.perf_counter()
        client = paramiko.SSHClient()
        client.load_host_keys(spec.known_hosts_files[0])
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(spec.host, port=spec.port, username=spec.user, key_filename=spec.key_files[0],
                       allow_agent=False, look_for_keys=False)
        try:
            client.open_sftp().put(str(local), f"{DEST_DIR}/bench.sftp")
        finally:
            client.close()
        return time.perf_counter() - t0

    methods = {"scp": scp_upload, "y7deploy": y7deploy_upload, "paramiko sftp": sftp_upload}
    speeds: dict[str, list[float]] = {name: [] for name in methods}
    with Connection(spec) as admin:
        for i in range(args.runs):
            for name, fn in methods.items():
                clean(admin)
                seconds = fn()
                speeds[name].append(mib / seconds)
                print(f"run {i + 1}  {name:<14} {seconds:6.2f} s  {mib / seconds:7.1f} MiB/s", flush=True)
        clean(admin)
        admin.put_file(local, f"{DEST_DIR}/bench.y7")
        transfer.forget_local_sums()
        t0 = time.perf_counter()
        with Connection(spec) as conn:
            assert not conn.put_file(local, f"{DEST_DIR}/bench.y7")
        unchanged = time.perf_counter() - t0
        clean(admin)

    med = {name: statistics.median(v) for name, v in speeds.items()}
    print(f"\n{mib:.0f} MiB to {host} ({spec.host}), median of {args.runs} runs, "
          f"load average {os.getloadavg()[0]:.1f}:")
    for name, value in med.items():
        print(f"  {name:<14} {value:7.1f} MiB/s   ratio to scp {value / med['scp']:.2f}")
    print(f"  y7deploy no-change re-upload (connect + compare, local hash not cached): {unchanged:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
