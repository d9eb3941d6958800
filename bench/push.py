"""Bench: `y7deploy push` of a yolov7-tiny release to 10 lab hosts of three device classes.

One run, on its own lab (y7pushone: Nano JP4.6, Xavier NX JP5.1.3, Orin Nano JP6.1, cycled):
provision; push v1 (engines built, one per class, copied to the rest); the same push again
(no change, 3 times) against the floor of 10 parallel `ssh host true` (3 times); push v2
(a new engine, a restart on every host); rollback to v1 (no engine work), then back and
forth (--rollbacks, 3 by default: the median is printed). Prints the push's
wall time split into plan, upload, build, activate, gate and commit (from its --json
timings), each host's downtime (systemd's "Stopping" of the app -> the first **PERF: line of
the new run, from the device's journal), medians and ratios, and the issue's targets:
no-change re-push <= 1.5x the floor; downtime <= restart + one FPS interval + 1 s;
rollback of 10 hosts <= the gate window + 2 s.

    .venv/bin/python bench/push.py [--hosts 10] [--width 1.0] [--img 640] [--keep]

Needs root. The lab is taken down at the end unless --keep.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
PROFILES = ["nano-jp461", "xavier-nx-jp513", "orin-nano-jp61"]
PERF_INTERVAL = 1
GATE_WINDOW = 1
GROUP_VARS = {
    "y7_sources": ["file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"],
    "y7_perf_interval_s": PERF_INTERVAL, "y7_precision": "fp16", "health_window": GATE_WINDOW, "min_fps": 5,
    "commit_deadline": 120,
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def export(out: Path, width: float, img: int) -> list[str]:
    """Two real yolov7-tiny bundles (seeds 1 and 2), exported and verified by the exporter."""
    import torch

    from y7deploy.model.export import export_model
    from y7deploy.model.yolo import build_model, resolve_cfg

    torch.set_num_threads(1)
    ids = []
    for seed, version in ((1, "1.0.0"), (2, "2.0.0")):
        torch.manual_seed(seed)
        cfg = dict(resolve_cfg("yolov7-tiny", form="training"), width_multiple=width)
        ids.append(export_model(build_model(cfg, nc=2), ["cat", "dog"], name="tiny", version=version, out=out,
                                img_size=[img]).release.id)
    return ids


def y7(*args: str, env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "y7deploy", *args, "--json"], capture_output=True, text=True,
                          env={**os.environ, **env})
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"y7deploy {args[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def cli_startup() -> float:
    """`y7deploy --version`: what every command pays before it reaches a device."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "y7deploy", "--version"], capture_output=True, check=True)
    return time.perf_counter() - start


def split(report: dict) -> str:
    t = report["timings"]
    parts = {"plan": t.get("plan", 0.0), "upload": t.get("stage", 0.0) - t.get("build", 0.0),
             "build": t.get("build", 0.0), "activate": t.get("activate", 0.0), "gate": t.get("gate", 0.0),
             "commit": t.get("commit", 0.0)}
    return ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--width", type=float, default=1.0, help="yolov7-tiny's width multiple (1.0: the real one)")
    ap.add_argument("--img", type=int, default=640)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    ap.add_argument("--name", default="y7pushone")
    ap.add_argument("--rollbacks", type=int, default=3, help="rollbacks in a row (each to the other release)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/push.py needs root (it brings up a lab)")
    compare, small = _load("push_compare"), _load("deploy")
    from y7deploy.deploy.parser import PARSER_DIR, tree_sha
    from y7deploy.lab import Lab

    compare.bytecode()
    print("\n".join(compare.machine()[:1] + compare.machine()[2:]))
    lab = Lab(args.name)
    work = Path(tempfile.mkdtemp(prefix="y7pushbench-"))
    try:
        lab.up(hosts=args.hosts, profiles=PROFILES, log=lambda *_: None)
        hosts = lab.hosts
        inventory = work / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        (inventory / "hosts.yml").write_text(Path(lab.inventory_path).read_text())
        (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(GROUP_VARS))
        env = {"Y7DEPLOY_LEDGER": str(work / "ledger.sqlite")}
        inv = ["-i", str(inventory), "--forks", str(args.hosts)]
        v1, v2 = export(work / "releases", args.width, args.img)
        size = sum(p.stat().st_size for p in (work / "releases" / v1).iterdir())
        sha = tree_sha(Path(lab.deepstream_yolo_src) / PARSER_DIR)
        y7("provision", *inv, "-e", f"y7_parser_sha={sha}", env=env)
        push = ["--releases", str(work / "releases"), "--serial", "100%"]

        wall, first = y7("push", v1, *inv, *push, env=env)
        built = sum(1 for r in first["hosts"].values() if r["engine"] == "built")
        copied = sum(1 for r in first["hosts"].values() if r["engine"] == "copied")
        print(f"\nrelease {v1}: {size / 2**20:.1f} MiB; {args.hosts} hosts of {len(PROFILES)} classes")
        print(f"first push: {wall:.2f} s wall ({split(first)}); engines built {built}, copied {copied}")

        again = [y7("push", v1, *inv, *push, env=env)[0] for _ in range(3)]
        floor = [small.ssh_floor(lab, hosts) for _ in range(3)]
        ratio = statistics.median(again) / statistics.median(floor)
        print(f"no-change push: median {statistics.median(again):.2f} s of 3 "
              f"({', '.join(f'{x:.2f}' for x in again)}); floor (10 parallel ssh true) median "
              f"{statistics.median(floor):.2f} s; ratio {ratio:.2f} (target <= 1.5: "
              f"{'met' if ratio <= 1.5 else 'NOT met'})")

        since = time.time()
        wall, update = y7("push", v2, *inv, *push, env=env)
        down = compare.downtime(lab, hosts, since)
        print(f"push of a new release: {wall:.2f} s wall ({split(update)})")
        print(f"downtime per host: median {statistics.median(down):.2f} s, max {max(down):.2f} s "
              f"(stop -> first **PERF: line; target <= restart + {PERF_INTERVAL} s interval + 1 s)")

        target = GATE_WINDOW + 2.0
        startup = statistics.median(cli_startup() for _ in range(3))
        walls, downs, inner = [], [], []
        for _ in range(args.rollbacks):  # v2 -> v1, then v1 -> v2 (previous), and so on
            since = time.time()
            wall, back = y7("rollback", *inv, env=env)
            down = compare.downtime(lab, hosts, since)
            walls.append(wall)
            downs.append(statistics.median(down))
            inner.append(back["timings"])
            t = back["timings"]
            rolled = ", ".join(f"{k} {t.get(k, 0.0):.2f} s" for k in ("lock", "activate", "gate", "commit", "total"))
            print(f"rollback of {args.hosts} hosts: {wall:.2f} s wall ({rolled}); downtime median "
                  f"{statistics.median(down):.2f} s; load {os.getloadavg()[0]:.2f}")
        wall = statistics.median(walls)
        print(f"rollback of {args.hosts} hosts: median {wall:.2f} s wall of {len(walls)} "
              f"(in-process {statistics.median(t['total'] for t in inner):.2f} s, CLI start-up "
              f"{startup:.2f} s); target <= gate window {GATE_WINDOW} s + 2 s = {target:.0f} s: "
              f"{'met' if wall <= target else 'NOT met'}; downtime median {statistics.median(downs):.2f} s; "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    finally:
        if not args.keep:
            lab.down(log=lambda *_: None)


if __name__ == "__main__":
    sys.exit(main())
