"""Run every benchmark script in bench/ and write bench/RESULTS.md: the machine, then each script's output.

    .venv/bin/python bench/run_all.py [--upstream /path/to/yolov7] [--only train,export | --skip push_compare]
                                      [--keep [EARLIER.md ...]] [--args "push_compare=--hosts 1,10"]
                                      [--out bench/RESULTS.md]

`make bench` calls this (BENCH_ARGS="--skip push_compare --keep" passes options). Each
script runs in its own process, one after another (they measure time, so never side by
side), and prints its own medians and ratios; this driver records the machine they ran
on (CPU, cores, memory, the load average before and after each script, since load moves
the figures most) and each script's output as it is, echoed while it runs. RESULTS.md is
rewritten after every script, so an interrupted run keeps what it measured. With --keep,
the sections of scripts not run this time stay as an earlier run wrote them (each says
when it ran), taken from the --out file or from the files named (the last one naming a
script wins): a script that takes an hour (push_compare at 50 hosts) can be measured
apart, and runs written to other files merged (--skip every script: merge only). The
exit status is 1 when any script failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRACE_S = 120  # after the timeout's SIGINT, before SIGKILL


@dataclass
class Outcome:
    script: str
    summary: str  # the first line of the script's docstring
    returncode: int
    seconds: float
    load_before: str
    load_after: str
    output: str
    finished: str = ""
    args: tuple[str, ...] = ()


def machine(proc: Path = Path("/proc")) -> list[str]:
    """One line each: CPU model, cores, memory, GPU, OS, Python and the date."""

    def first(path: Path, key: str) -> str:
        try:
            for line in path.read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    mem_kib = first(proc / "meminfo", "MemTotal").split()[0]
    memory = f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown"
    return [
        f"CPU: {first(proc / 'cpuinfo', 'model name')}, {os.cpu_count()} cores",
        f"memory: {memory}",
        f"GPU: {gpu()}",
        f"OS: {platform.platform()}; Python {platform.python_version()}",
        f"load average at the start: {load()}",
        f"date: {now()}",
    ]


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def gpu() -> str:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "none (no nvidia-smi)"
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "nvidia-smi failed"
    return "; ".join(listed.splitlines()) or "none listed by nvidia-smi"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary_of(script: Path) -> str:
    import ast

    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def scripts_in(folder: Path, only: set[str] | None, skip: set[str] = frozenset()) -> list[Path]:
    found = sorted(p for p in folder.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    unknown = ((only or set()) | skip) - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"run_all: no bench script named {', '.join(sorted(unknown))} in {folder}")
    return [p for p in found if (not only or p.stem in only) and p.stem not in skip]


def run(script: Path, args: list[str], timeout: float, echo=None) -> Outcome:
    """The script's output is handed to `echo` line by line as it comes, and kept."""
    before, start = load(), time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=script.parent.parent)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if echo:
                echo(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # a script that catches it takes its lab down and prints what it has
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        code = 124
    reader.join()
    output = "".join(lines) + (f"\n(stopped after {timeout:.0f} s)\n" if code == 124 else "")
    return Outcome(script.name, summary_of(script), code, time.monotonic() - start, before, load(), output, now(),
                   tuple(args))


SECTION = re.compile(r"^## (\S+\.py)$", re.M)


def sections_in(text: str) -> dict[str, str]:
    """An earlier RESULTS.md's sections by script name, each as written (heading to the next heading)."""
    found = {}
    marks = list(SECTION.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.start():end]
        pending = re.search(r"^Not run yet: ", body, re.M)
        found[mark.group(1)] = (body[:pending.start()] if pending else body).rstrip()
    return found


def render(host: list[str], outcomes: list[Outcome], pending: list[str], kept: dict[str, str] | None = None) -> str:
    """The machine, then one section per script in name order: this run's, or kept from an earlier run."""
    lines = ["# Benchmark results", "", "Written by `make bench` (bench/run_all.py). Each script prints medians of "
             "several runs and ratios taken in the same run; the load average is the 1, 5 and 15 minute one.", "",
             "## Machine", ""]
    lines += [f"- {line}" for line in host]
    if kept:
        lines += ["", f"Kept from earlier runs (--keep), each as it was written with the time it finished: "
                      f"{', '.join(sorted(kept))}. The machine above is the one of the last run."]
    sections = dict(kept or {})
    for o in outcomes:
        verdict = "ok" if o.returncode == 0 else f"FAILED (exit {o.returncode})"
        sections[o.script] = "\n".join([
            f"## {o.script}", "", o.summary, "",
            *([f"options: `{shlex.join(o.args)}`", ""] if o.args else []),
            f"{verdict}, {o.seconds:.0f} s, finished {o.finished}; load average before {o.load_before}, "
            f"after {o.load_after}", "", "```", o.output.rstrip(), "```"])
    for name in sorted(sections):
        if name not in pending:
            lines += ["", sections[name]]
    if pending:
        lines += ["", f"Not run yet: {', '.join(pending)}"]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", default=os.environ.get("UPSTREAM") or None,
                    help="a checkout of WongKinYiu/yolov7, passed to train.py (without: it trains ours only)")
    ap.add_argument("--only", default="", help="comma-separated script names (without .py)")
    ap.add_argument("--skip", default="", help="comma-separated script names (without .py) not to run")
    ap.add_argument("--keep", nargs="*", type=Path, metavar="EARLIER", help="keep the sections of scripts not run "
                    "this time (as they were written, with the date they ran) from these files, or from --out")
    ap.add_argument("--args", action="append", default=[], metavar="NAME=ARGS", help="options for one script "
                    "(repeatable), e.g. 'push_compare=--hosts 1,10 --repeat 3'")
    ap.add_argument("--dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per script (then SIGINT, and "
                    f"SIGKILL {GRACE_S} s later)")
    opts = ap.parse_args(argv)
    names = [{s.strip() for s in arg.split(",") if s.strip()} for arg in (opts.only, opts.skip)]
    scripts = scripts_in(opts.dir, names[0] or None, names[1])
    kept = {}
    for earlier in ([] if opts.keep is None else opts.keep or [opts.out]):
        if earlier.is_file():
            kept.update(sections_in(earlier.read_text()))
        elif opts.keep:
            raise SystemExit(f"run_all: --keep {earlier}: no such file")
    kept = {k: v for k, v in kept.items() if k not in {s.name for s in scripts}}
    extra = {"train.py": ["--upstream", opts.upstream] if opts.upstream else []}
    for item in opts.args:
        name, _, args = item.partition("=")
        if not _ or name.strip() not in {s.stem for s in scripts}:
            raise SystemExit(f"run_all: --args {item!r}: NAME=ARGS with NAME a script this run runs")
        extra[f"{name.strip()}.py"] = extra.get(f"{name.strip()}.py", []) + shlex.split(args)
    host, outcomes = machine(), []
    for i, script in enumerate(scripts):
        print(f"== bench/{script.name} (load {load()})", flush=True)
        outcome = run(script, extra.get(script.name, []), opts.timeout,
                      echo=lambda line: print(line, end="", flush=True))
        if outcome.output and not outcome.output.endswith("\n"):
            print(flush=True)
        outcomes.append(outcome)
        write(opts.out, render(host, outcomes, [s.name for s in scripts[i + 1:]], kept))
    if not scripts:
        write(opts.out, render(host, [], [], kept))
    print(f"wrote {opts.out}")
    failed = [o.script for o in outcomes if o.returncode != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
