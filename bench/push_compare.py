"""Bench: push of a release to 1, 10 and 50 lab hosts by y7deploy, ansible-playbook and pyinfra, with rollback and downtime.

The same steps for every tool, on the same provisioned lab hosts: upload the release
files, render the nvinfer and deepstream-app configs (the package's templates), build the
engine when missing (trtexec on the device), switch `current` (and `previous`), restart
y7deploy-app.service, wait for the first `**PERF:` line. y7deploy runs `y7deploy push
RELEASE --serial 100%` (its canary wave, one host per device class, then the rest) and
`y7deploy rollback`; ansible-playbook runs bench/push_compare/push.yml and rollback.yml;
pyinfra runs bench/push_compare/pyinfra_push.py and pyinfra_rollback.py. Each repetition,
for each tool in turn: hosts reset to provisioned, first push of v1, the same push again
(no change), push of v2 (the app running v1: a new engine, a restart), rollback to v1.
The floor is N parallel `ssh host true` with OpenSSH.

    .venv/bin/python bench/push_compare.py [--hosts 1,10,50] [--repeat 3,3,1] [--only y7deploy,ansible,pyinfra]

--repeat is one count for every fleet size or one per size (smallest first); the default
repeats 1 and 10 hosts three times and 50 hosts once. On a shared 2-core machine (load
20-30) a round of the three tools took ~4 min at 1 host and ~10 min at 10 hosts
(ansible-playbook 405 s of it); --only-at 50=y7deploy,pyinfra leaves ansible-playbook out
where its round would not fit.

Prints medians, ratios taken in the same run, how wall time grows with the hosts, and
each host's downtime (systemd's "Stopping" of the app → the first `**PERF:` line of the
new run, both read from the device's journal), as a table and as a Markdown fragment.
Interrupted (Ctrl-C, SIGTERM), it takes the lab down and prints what it measured so far.
Needs root: it brings up its own lab (named y7pushbench, the base from the shared cache or
$Y7DEPLOY_LAB_CACHE), provisions it, and takes it down at the end unless --keep.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
HERE = BENCH / "push_compare"
REPO = BENCH.parent
BIN = Path(sys.executable).parent
TOOLS = ("y7deploy", "ansible", "pyinfra")
TOOL_NAMES = {"y7deploy": "y7deploy", "ansible": "ansible-playbook", "pyinfra": "pyinfra"}
STEPS = ("first", "again", "update", "rollback")
STEP_NAMES = {"first": "first push (fresh hosts)", "again": "same push again (no change)",
              "update": "push of a new release (v1 -> v2)", "rollback": "rollback (v2 -> v1)"}
DOWNTIME_STEPS = ("update", "rollback")
# Every host plays a file source and prints **PERF: each second; the y7deploy gate passes on
# one interval at or above min_fps, the closest it comes to "the first **PERF: line".
GROUP_VARS = {
    "y7_sources": ["file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"],
    "y7_perf_interval_s": 1,
    "y7_precision": "fp16",
    "health_window": 1,
    "min_fps": 5,
    "commit_deadline": 120,
}
ANSIBLE_ENV = {"ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "LC_ALL": "C.UTF-8", "ANSIBLE_RETRY_FILES_ENABLED": "0",
               "ANSIBLE_PIPELINING": "1"}
UNIT = "y7deploy-app.service"
# Back to provisioned: the parser library (lib/, staging/) and the unit file stay.
RESET = f"""systemctl stop {UNIT}; systemctl disable -q {UNIT}; systemctl reset-failed {UNIT} 2>/dev/null
for t in $(systemctl list-units --all --plain --no-legend 'y7deploy-confirm-*' | awk '{{print $1}}'); do
  systemctl stop "$t"; done
cd /opt/y7deploy && rm -rf engines cache bin current previous state.json .lock .state.lock &&
find releases -mindepth 1 -delete"""
VERIFY = f"""readlink /opt/y7deploy/current; systemctl is-active {UNIT}
id=$(systemctl show -p InvocationID --value {UNIT})
journalctl -q -o cat _SYSTEMD_INVOCATION_ID=$id | grep -c 'deserialized trt engine from' || true
journalctl -q -o cat _SYSTEMD_INVOCATION_ID=$id | grep -c 'Trying to create engine from model files' || true"""


def _small_deploy_bench():
    """bench/deploy.py, for its `ssh_floor`."""
    spec = importlib.util.spec_from_file_location("bench_small_deploy", BENCH / "deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ToolFailed(Exception):
    pass


@dataclass
class Results:
    seconds: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)  # (n, tool, step)
    downtime: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)  # per host, all repeats
    floor: dict[int, float] = field(default_factory=dict)
    failed: dict[tuple[int, str], str] = field(default_factory=dict)
    load: dict[tuple[int, str], list[float]] = field(default_factory=dict)  # (n, step): 1-min load at each start

    def add(self, table: dict, key: tuple, *values: float) -> None:
        table.setdefault(key, []).extend(values)

    def median(self, n: int, tool: str, step: str) -> float | None:
        values = self.seconds.get((n, tool, step))
        return statistics.median(values) if values else None


# --- the machine and the tools -----------------------------------------------------------


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    versions = []
    for tool, argv in (("y7deploy", [str(BIN / "y7deploy"), "--version"]),
                       ("ansible-core", [str(BIN / "ansible-playbook"), "--version"]),
                       ("pyinfra", [str(BIN / "pyinfra"), "--version"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()
            versions.append(out[0] if out else f"{tool} ?")
        except OSError as exc:
            versions.append(f"{tool}: {exc.strerror}")
    return [f"machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}",
            f"tools: {'; '.join(versions)}",
            f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]


def bytecode() -> None:
    """Compile y7deploy's modules once, as pip does when it installs a package: an editable
    checkout run with PYTHONDONTWRITEBYTECODE set would compile some 75 modules at every
    command's start (0.1 s on the 2-core machine), which ansible's and pyinfra's installed
    modules never pay."""
    import compileall

    import y7deploy

    root = Path(y7deploy.__file__).parent
    for package in (root, *(init.parent for init in root.rglob("*/__init__.py"))):  # not the device-side scripts
        compileall.compile_dir(str(package), maxlevels=0, quiet=1)


def y7deploy_push_missing() -> str | None:
    """Why the y7deploy column cannot run, or None when push and rollback exist."""
    for command in ("push", "rollback"):
        proc = subprocess.run([str(BIN / "y7deploy"), command, "--help"], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()
            return f"`y7deploy {command}` is not available ({last[-1] if last else f'exit {proc.returncode}'})"
    return None


# --- the lab --------------------------------------------------------------------------------


def on_hosts(lab: Any, hosts: list[Any], command: str) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(min(16, len(hosts))) as pool:
        return list(pool.map(lambda h: lab.root(h.name, command), hosts))


def provision(lab: Any, inventory: Path) -> None:
    """playbooks/provision.yml with its parser src-sha given (the same sha the playbook computes)."""
    from y7deploy.deploy.parser import PARSER_DIR, tree_sha

    sha = tree_sha(Path(lab.deepstream_yolo_src) / PARSER_DIR)
    proc = subprocess.run([str(BIN / "y7deploy"), "play", str(REPO / "playbooks" / "provision.yml"),
                           "-i", str(inventory), "-e", f"parser_sha={sha}", "--forks", str(len(lab.hosts))],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"provision failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")


def export_releases(out: Path) -> list[str]:
    """Two real bundles by the exporter: yolov7-tiny at 1/8 width, 64 px, seeds 1 and 2."""
    import torch

    from y7deploy.model.export import export_model
    from y7deploy.model.yolo import build_model, resolve_cfg

    torch.set_num_threads(1)
    ids = []
    for seed, version in ((1, "1.0.0"), (2, "2.0.0")):
        torch.manual_seed(seed)
        cfg = resolve_cfg("yolov7-tiny", form="training")
        cfg["width_multiple"] = 0.125
        bundle = export_model(build_model(cfg, nc=2), ["cat", "dog"], name="bench", version=version, out=out,
                              img_size=[64]).release
        ids.append(Path(bundle.path).name)
    return ids


def write_inventories(lab: Any, work: Path, sizes: list[int]) -> tuple[Path, dict[int, Path]]:
    """An Ansible inventory directory (the lab's hosts + group_vars/all.yml) for y7deploy and
    ansible-playbook, and one pyinfra inventory per fleet size with the same variables."""
    inventory = work / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(Path(lab.inventory_path).read_text())
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(GROUP_VARS))
    pyinfra: dict[int, Path] = {}
    for n in sizes:
        hosts = [(h.name, {"ssh_hostname": h.address, "ssh_user": "jetson", "ssh_key": str(lab.key_file),
                           "ssh_known_hosts_file": str(lab.known_hosts), "ssh_strict_host_key_checking": "yes",
                           **GROUP_VARS}) for h in lab.hosts[:n]]
        pyinfra[n] = work / f"pyinfra_inventory_{n}.py"
        pyinfra[n].write_text(f"hosts = {hosts!r}\n")
    return inventory, pyinfra


# --- one step of one tool -------------------------------------------------------------------


@dataclass
class Setup:
    inventory: Path
    pyinfra: dict[int, Path]
    releases: Path
    ledger: Path
    perf_timeout: int


def command(tool: str, step: str, release: str, n: int, names: list[str], s: Setup) -> tuple[list[str], dict]:
    limit = ",".join(names)
    if tool == "y7deploy":
        env = {"Y7DEPLOY_LEDGER": str(s.ledger)}
        if step == "rollback":
            return [str(BIN / "y7deploy"), "rollback", "-i", str(s.inventory), "-l", limit, "--forks", str(n)], env
        return [str(BIN / "y7deploy"), "push", release, "--releases", str(s.releases), "-i", str(s.inventory),
                "-l", limit, "--forks", str(n), "--serial", "100%"], env
    if tool == "ansible":
        playbook = HERE / ("rollback.yml" if step == "rollback" else "push.yml")
        extra = [] if step == "rollback" else ["-e", f"release_src={s.releases / release}"]
        return [str(BIN / "ansible-playbook"), "-i", str(s.inventory), str(playbook), "-l", limit, "-f", str(n),
                "-e", f"perf_timeout={s.perf_timeout}", *extra], ANSIBLE_ENV
    deploy = HERE / ("pyinfra_rollback.py" if step == "rollback" else "pyinfra_push.py")
    extra = [] if step == "rollback" else ["--data", f"release_src={s.releases / release}"]
    return [str(BIN / "pyinfra"), "-y", "--parallel", str(n), "--data", f"perf_timeout={s.perf_timeout}", *extra,
            str(s.pyinfra[n]), str(deploy)], {}


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **env}, cwd=REPO)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise ToolFailed(f"{Path(argv[0]).name} {argv[1]} exited {proc.returncode}:\n"
                         f"{proc.stdout[-2500:]}\n{proc.stderr[-1500:]}")
    return elapsed


def verify(lab: Any, hosts: list[Any], release: str) -> None:
    """Each host runs `release` from the engine the push left (deserialized, no rebuild)."""
    for h, proc in zip(hosts, on_hosts(lab, hosts, VERIFY)):
        words = proc.stdout.split()
        if words[:4] != [f"/opt/y7deploy/releases/{release}", "active", "1", "0"]:
            raise ToolFailed(f"{h.name}: expected {release} active, its engine loaded and not rebuilt; "
                             f"found {words} (current, unit, loads, rebuilds)")


def downtime(lab: Any, hosts: list[Any], since: float) -> list[float]:
    """Per host: systemd's "Stopping" of the app after `since` -> the first **PERF: line
    printed after systemd's next "Started" (the new run's, not a late line of the old one)."""
    out = []
    command = f"journalctl -u {UNIT} -o json --no-pager --since @{int(since)}"
    for h, proc in zip(hosts, on_hosts(lab, hosts, command)):
        stop = started = up = None
        for line in proc.stdout.splitlines():
            entry = json.loads(line)
            t = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
            message = entry.get("MESSAGE")
            if t < since or not isinstance(message, str):
                continue
            from_systemd = entry.get("_PID") == "1"
            if stop is None:
                stop = t if from_systemd and message.startswith("Stopping ") else None
            elif started is None:
                started = t if from_systemd and message.startswith("Started ") else None
            elif not from_systemd and message.startswith("**PERF:"):
                up = t
                break
        if up is None:
            raise ToolFailed(f"{h.name}: no stop, start and **PERF: line of {UNIT} in its journal since "
                             f"{since:.3f} (stopping at {stop}, started at {started})")
        out.append(up - stop)
    return out


def one_round(tool: str, n: int, lab: Any, releases: list[str], s: Setup, results: Results) -> None:
    hosts = lab.hosts[:n]
    names = [h.name for h in hosts]
    on_hosts(lab, hosts, RESET)
    v1, v2 = releases
    plan = (("first", v1, v1), ("again", v1, v1), ("update", v2, v2), ("rollback", None, v1))
    line = []
    for step, release, expect in plan:
        argv, env = command(tool, step, release or "", n, names, s)
        since = time.time()
        results.add(results.load, (n, step), os.getloadavg()[0])
        seconds = timed(argv, env)
        verify(lab, hosts, expect)
        results.add(results.seconds, (n, tool, step), seconds)
        if step in DOWNTIME_STEPS:
            results.add(results.downtime, (n, tool, step), *downtime(lab, hosts, since))
        line.append(f"{step} {seconds:.2f}")
    print(f"  {n:>2} hosts  {tool:<9} " + "  ".join(line), flush=True)


# --- the report -------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def ratio(other: float | None, ours: float | None) -> str:
    return "-" if other is None or not ours else f"{other / ours:.1f}x"


def tables(results: Results, sizes: list[int], tools: list[str]) -> list[list[list[str]]]:
    """Rows of the three tables (wall time, growth, downtime); the first row of each is its header."""
    head = ["hosts", "step", "runs", "load", *(TOOL_NAMES[t] for t in tools), "ssh floor",
            *(f"{TOOL_NAMES[t]} / y7deploy" for t in tools if t != "y7deploy" and "y7deploy" in tools)]
    wall = [head]
    for n in sizes:
        for step in STEPS:
            values = {t: results.median(n, t, step) for t in tools}
            load = results.load.get((n, step))
            runs = "/".join(str(len(results.seconds.get((n, t, step), []))) for t in tools)
            wall.append([str(n), STEP_NAMES[step], runs, f"{min(load):.1f}-{max(load):.1f}" if load else "-",
                         *(fmt(values[t]) for t in tools), fmt(results.floor.get(n)),
                         *(ratio(values[t], values["y7deploy"]) for t in tools
                           if t != "y7deploy" and "y7deploy" in tools)])
    growth = [["tool", "step", *(f"{n} hosts" for n in sizes), f"s per added host ({sizes[0]}->{sizes[-1]})"]]
    for t in tools:
        for step in ("first", "update"):
            values = [results.median(n, t, step) for n in sizes]
            base = values[0]
            cells = [f"{fmt(v)} ({v / base:.1f}x)" if v is not None and base else fmt(v) for v in values]
            slope = ((values[-1] - values[0]) / (sizes[-1] - sizes[0])
                     if len(sizes) > 1 and None not in (values[0], values[-1]) else None)
            growth.append([TOOL_NAMES[t], STEP_NAMES[step], *cells, fmt(slope)])
    down = [["hosts", "step", *(f"{TOOL_NAMES[t]} median / max" for t in tools)]]
    for n in sizes:
        for step in DOWNTIME_STEPS:
            cells = []
            for t in tools:
                values = results.downtime.get((n, t, step))
                cells.append(f"{statistics.median(values):.2f} / {max(values):.2f}" if values else "-")
            down.append([str(n), STEP_NAMES[step], *cells])
    return [wall, growth, down]


def plain(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(rows[0]))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def report(results: Results, sizes: list[int], tools: list[str], header: list[str], notes: list[str]) -> None:
    wall, growth, down = tables(results, sizes, tools)
    titles = ["Wall time in seconds, medians (runs: how many each tool's median is of, in column order; load: "
              "the 1-min load average at the start of those runs, lowest-highest; ratios: the other tool's median / "
              "y7deploy's, above 1x y7deploy is faster)",
              "How wall time grows with the hosts (seconds; x: times the smallest fleet's)",
              "Per-host downtime in seconds: systemd's \"Stopping\" of the app -> the first **PERF: line "
              "of the new run (every host of every repetition)"]
    print()
    for line in header + notes:
        print(line)
    for title, rows in zip(titles, (wall, growth, down)):
        print(f"\n{title}\n{plain(rows)}")
    print("\n<!-- markdown: bench/push_compare.py -->")
    print("### Push, re-push and rollback: y7deploy, ansible-playbook and pyinfra on lab hosts\n")
    for line in header + notes:
        print(f"- {line}")
    for title, rows in zip(titles, (wall, growth, down)):
        print(f"\n{title}:\n\n{markdown(rows)}")
    print("<!-- end markdown -->")


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", default="1,10,50", help="fleet sizes, comma-separated (one lab of the largest)")
    ap.add_argument("--repeat", help="repetitions: one count, or one per fleet size, smallest first "
                    "(default: 3,3,1 with the default sizes, else 3)")
    ap.add_argument("--only", default=",".join(TOOLS), help="tools: y7deploy,ansible,pyinfra")
    ap.add_argument("--only-at", action="append", default=[], metavar="HOSTS=TOOLS", help="at this fleet size, only "
                    "these of the tools (repeatable; e.g. 50=y7deploy,pyinfra where a round of the third takes too long)")
    ap.add_argument("--reuse-lab", action="store_true", help="use the lab --lab names, already up with enough hosts "
                    "(provisioned again, left up afterwards)")
    ap.add_argument("--lab", default="y7pushbench")
    ap.add_argument("--releases", type=Path, help="a folder holding the two releases to push (v1 then v2 by id "
                    "order); default: two tiny exports made here")
    ap.add_argument("--profile", action="append", default=[], help="the lab's profiles, in turn (repeatable; "
                    "default: every profile); one profile makes the fleet one device class")
    ap.add_argument("--build-seconds", type=float, help="the lab's trtexec build time per engine (default: the "
                    "lab's, 0)")
    ap.add_argument("--perf-timeout", type=int, default=180, help="seconds to wait for a **PERF: line")
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = ap.parse_args()
    try:
        sizes = sorted({int(x) for x in args.hosts.split(",") if x.strip()})
    except ValueError:
        ap.error(f"--hosts {args.hosts!r}: not a comma-separated list of numbers")
    if not sizes or sizes[0] < 1 or sizes[-1] > 99:
        ap.error(f"--hosts {args.hosts!r}: 1 to 99 hosts")
    tools = [t for t in TOOLS if t in {x.strip() for x in args.only.split(",")}]
    if not tools:
        ap.error(f"--only {args.only!r}: none of {', '.join(TOOLS)}")
    tools_at = {n: list(tools) for n in sizes}
    for item in args.only_at:
        size, _, names = item.partition("=")
        picked = [t for t in tools if t in {x.strip() for x in names.split(",")}]
        if not size.strip().isdigit() or int(size) not in tools_at or not picked:
            ap.error(f"--only-at {item!r}: HOSTS=TOOLS with HOSTS one of --hosts and TOOLS among {', '.join(tools)}")
        tools_at[int(size)] = picked
    try:
        counts = [int(x) for x in (args.repeat or ("3,3,1" if args.hosts == "1,10,50" else "3")).split(",")]
    except ValueError:
        ap.error(f"--repeat {args.repeat!r}: not a number or a comma-separated list of numbers")
    if len(counts) == 1:
        counts *= len(sizes)
    bytecode()
    if len(counts) != len(sizes) or min(counts) < 1:
        ap.error(f"--repeat {args.repeat!r}: one count of at least 1, or one per fleet size ({len(sizes)})")
    repeats = dict(zip(sizes, counts))
    bundles = (sorted(p.parent.name for p in args.releases.glob("*/manifest.json"))
               if args.releases and args.releases.is_dir() else [])
    if args.releases and len(bundles) < 2:
        ap.error(f"--releases {args.releases}: needs a folder with two release bundles, found {len(bundles)}")
    if os.geteuid() != 0:
        sys.exit("push_compare: the lab needs root")

    header = machine()
    notes = []
    if "y7deploy" in tools and (why := y7deploy_push_missing()):
        notes.append(f"y7deploy column skipped: {why}")
        tools.remove("y7deploy")
    print("\n".join(header + notes), flush=True)

    from y7deploy.lab import Lab

    work = Path(tempfile.mkdtemp(prefix="y7pushbench-"))
    if args.releases:
        releases_dir, releases = args.releases.resolve(), bundles[:2]
    else:
        releases_dir = work / "releases"
        releases = export_releases(releases_dir)
    lab = Lab(args.lab)
    print(f"lab {args.lab}: {sizes[-1]} hosts up, provisioned (work files in {work})", flush=True)
    started = time.perf_counter()
    if not args.reuse_lab:
        lab.up(hosts=sizes[-1], profiles=args.profile or None, log=lambda *_: None)
    elif len(lab.hosts) < sizes[-1]:
        sys.exit(f"push_compare: --reuse-lab: lab {args.lab} has {len(lab.hosts)} hosts, {sizes[-1]} needed")
    results = Results()
    interrupted = False
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        inventory, pyinfra = write_inventories(lab, work, sizes)
        provision(lab, inventory)
        if args.build_seconds is not None:
            on_hosts(lab, lab.hosts, f"echo {args.build_seconds:g} > /etc/y7deploy-lab/trtexec-build-seconds")
        build = on_hosts(lab, lab.hosts[:1], "cat /etc/y7deploy-lab/trtexec-build-seconds")[0].stdout.strip()
        profiles = list(dict.fromkeys(h.profile for h in lab.hosts))
        header += [f"lab: {sizes[-1]} hosts {'(reused) ' if args.reuse_lab else ''}up and provisioned in {time.perf_counter() - started:.0f} s; profiles "
                   f"in turn: {', '.join(profiles)}; trtexec build {build} s per engine (the lab's knob)",
                   f"releases {releases[0]} and {releases[1]} (yolov7-tiny, the real exporter); "
                   f"{GROUP_VARS['y7_precision']}, one file source, **PERF: every {GROUP_VARS['y7_perf_interval_s']} s",
                   "y7deploy: push --serial 100% (canaries, one per device class, then the rest; an engine is "
                   "built once per class and copied), gate health_window=1 s; ansible-playbook with "
                   "pipelining, -f N; pyinfra --parallel N; each host of the other two builds its own engine"]
        setup = Setup(inventory, pyinfra, releases_dir, work / "ledger.sqlite", args.perf_timeout)
        floor = _small_deploy_bench().ssh_floor
        for n in sizes:
            results.floor[n] = statistics.median(floor(lab, lab.hosts[:n]) for _ in range(max(3, repeats[n])))
            for _ in range(repeats[n]):
                for tool in [t for t in tools_at[n] if t in tools]:
                    if (n, tool) in results.failed:
                        continue
                    try:
                        one_round(tool, n, lab, releases, setup, results)
                    except ToolFailed as exc:
                        results.failed[(n, tool)] = str(exc)
                        print(f"  {n:>2} hosts  {tool:<9} FAILED: {exc}", flush=True)
            on_hosts(lab, lab.hosts[:n], RESET)
    except KeyboardInterrupt:
        interrupted = True
        notes.append(f"interrupted at {time.strftime('%H:%M:%S')}: the tables hold only the runs that ended before")
    finally:
        if not (args.keep or args.reuse_lab):
            lab.down(log=lambda *_: None)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for (n, tool), why in results.failed.items():
        notes.append(f"{TOOL_NAMES[tool]} failed at {n} hosts: {why.splitlines()[0]}")
    header.append(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(results, sizes, tools, header, notes)
    return 1 if results.failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
