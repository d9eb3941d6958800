#!/usr/bin/python3
"""y7deploy's helper on a device: the switch of `current`, commit-confirmed, revert, prune.

Installed as /opt/y7deploy/bin/y7deploy-device by provision and by push (managed by y7deploy:
local edits are overwritten). Standard library only, so it runs on every JetPack's python3.
It works without the workstation: the transient timer a switch arms runs `revert`, and the
guard unit runs `guard` at boot, so a switch that was never committed is undone even when
the push that made it died or lost its link.

    y7deploy-device state [--unit U]
    y7deploy-device stage < staged state
    y7deploy-device switch --to ID --run RUN --deadline SECONDS [--unit U] < {"switched", "reverted"}
    y7deploy-device commit --run RUN [--unit U] < committed state
    y7deploy-device revert [--run RUN] [--restart] [--reason TEXT] [--unit U]
    y7deploy-device guard [--unit U]
    y7deploy-device probe --invocation ID | --since EPOCH | --lines N [--unit U]
                          [--wait S --seen N --due EPOCH]   (wait up to S s for line N+1 of **PERF:)
    y7deploy-device prune --keep N
"""

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.environ.get("Y7DEPLOY_ROOT", "/opt/y7deploy")
STATE = os.path.join(ROOT, "state.json")
REVERT = os.path.join(ROOT, "revert.json")  # the state a revert writes, prepared at the switch
UNIT = "y7deploy-app.service"
TIMER_PREFIX = "y7deploy-confirm-"
PARSER = "libnvdsinfer_custom_impl_Yolo.so"
PERF_POLL_S = 0.1  # between two reads of the journal while a **PERF: line is overdue


def _now():
    return time.time()


def read_state():
    try:
        with open(STATE) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(data):
    _write_json(STATE, data)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_json(path, data):
    """temp, fsync, rename, fsync the directory: a reader sees the old content or the new one."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        _remove(tmp)  # a full disk must not leave a truncated state.json.tmp behind
        raise
    _fsync_dir(ROOT)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release_of(link):
    """The release id a link (current/previous) points at, or None."""
    try:
        target = os.readlink(os.path.join(ROOT, link))
    except OSError:
        return None
    return os.path.basename(target.rstrip("/")) or None


def point(link, release):
    """Make ROOT/link point at releases/<release> by rename(2) of a new symlink; None removes it."""
    path = os.path.join(ROOT, link)
    if release is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        tmp = path + ".y7new"
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.symlink(os.path.join(ROOT, "releases", release), tmp)
        os.replace(tmp, path)
    _fsync_dir(ROOT)


class StateLock:
    """Short lock around a state transition: commit and the deadline's revert never cross."""

    def __enter__(self):
        self.f = open(os.path.join(ROOT, ".state.lock"), "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.f.close()


def systemctl(*args, check=False):
    return subprocess.run(["systemctl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=check)


def unit_props(unit):
    out = systemctl("show", unit, "-p", "ActiveState,SubState,NRestarts,ActiveEnterTimestamp,"
                    "ExecMainStartTimestamp,ExecMainStartTimestampMonotonic,MainPID,UnitFileState,LoadState,"
                    "InvocationID").stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props


def restart(unit, release):
    """Restart the app on `release` (stop it when there is none); returns the time just before."""
    since = _now()
    if release is None:
        systemctl("stop", unit)
        systemctl("disable", unit)
        return since
    systemctl("reset-failed", unit)  # also clears the start rate limit a crashing release ran into
    if systemctl("is-enabled", unit).stdout.strip() != "enabled":
        systemctl("enable", unit)  # enable reloads systemd's configuration: only when needed
    systemctl("restart", unit, check=True)
    return since


def stop_timer(run):
    if run:
        systemctl("stop", TIMER_PREFIX + run + ".timer")
        systemctl("reset-failed", TIMER_PREFIX + run + ".service")


def cmd_state(args):
    releases = sorted(os.listdir(os.path.join(ROOT, "releases"))) \
        if os.path.isdir(os.path.join(ROOT, "releases")) else []
    engines_dir = os.path.join(ROOT, "engines")
    engines = sorted(n[:-7] for n in os.listdir(engines_dir) if n.endswith(".engine")) \
        if os.path.isdir(engines_dir) else []
    try:
        with open(STATE) as f:
            text = f.read()
    except OSError:
        text = ""
    lib = os.path.join(ROOT, "lib")
    parsers = [d for d in os.listdir(lib) if os.path.isfile(os.path.join(lib, d, PARSER))] \
        if os.path.isdir(lib) else []
    parsers.sort(key=lambda d: os.stat(os.path.join(lib, d, PARSER)).st_mtime, reverse=True)
    out = {"state_json": text, "parsers": parsers, "current": release_of("current"), "previous": release_of("previous"),
           "releases": [r for r in releases if not r.startswith(".")], "engines": engines,
           "unit": unit_props(args.unit), "now": _now()}
    print(json.dumps(out, sort_keys=True))
    return 0


def _stdin_json():
    data = json.loads(sys.stdin.read())
    if not isinstance(data, dict):
        raise SystemExit("expected a JSON object on stdin")
    return data


def cmd_switch(args):
    """stdin: {"switched": state.json while uncommitted, "reverted": state.json after a revert}.

    The workstation computes both (deploy/state.py); this side only writes them, in order:
    the revert record, the timer, state.json (switched), then the links, then the restart.
    """
    docs = _stdin_json()
    if not os.path.isdir(os.path.join(ROOT, "releases", args.to)):
        print(json.dumps({"error": "release %s is not on this device" % args.to}))
        return 1
    with StateLock():
        st = read_state()
        if st.get("state") == "switched":
            print(json.dumps({"error": "an uncommitted switch (run %s) is pending" % st.get("run_id")}))
            return 1
        old_current = release_of("current")
        _write_json(REVERT, docs["reverted"])
        timer = TIMER_PREFIX + args.run
        armed = subprocess.run(
            ["systemd-run", "--unit", timer, "--description",
             "y7deploy: revert switch %s unless committed" % args.run,
             "--on-active=%ds" % args.deadline, "--timer-property=AccuracySec=1s",
             sys.executable, os.path.abspath(__file__), "revert", "--run", args.run,
             "--restart", "--reason", "not committed by the deadline", "--unit", args.unit],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        if armed.returncode != 0:
            print(json.dumps({"error": "cannot arm the commit timer: " + armed.stderr.strip()}))
            return 1
        new = docs["switched"]
        write_state(new)
        point("previous", new.get("previous"))
        point("current", new.get("current"))
    try:
        since = restart(args.unit, args.to)
    except subprocess.CalledProcessError as exc:
        print(json.dumps({"switched": True, "error": "restart failed: %s" % exc.stderr.strip(),
                          "since": _now()}))
        return 1
    props = unit_props(args.unit)
    print(json.dumps({"switched": True, "since": since, "from": old_current, "to": args.to,
                      "unit": props}))
    return 0


def cmd_stage(args):
    """stdin: the staged state.json (files and engine in place, `current` unchanged); never
    written over a pending switch, which only commit or revert may end."""
    doc = _stdin_json()
    with StateLock():
        if read_state().get("state") == "switched":
            print(json.dumps({"staged": False, "error": "a switch is pending"}))
            return 1
        write_state(doc)
    print(json.dumps({"staged": True}))
    return 0


def cmd_commit(args):
    """stdin: the committed state.json; written only while this run's switch is still pending."""
    doc = _stdin_json()
    with StateLock():
        st = read_state()
        if st.get("run_id") != args.run or st.get("state") != "switched":
            print(json.dumps({"error": "nothing to commit for run %s: the device is %s (run %s)"
                              % (args.run, st.get("state"), st.get("run_id"))}))
            return 1
        stop_timer(args.run)
        write_state(doc)
        _remove(REVERT)
    print(json.dumps({"committed": True, "current": doc.get("current")}))
    return 0


def revert(reason, run=None, do_restart=True, unit=UNIT):
    """Undo an uncommitted switch: state, current and previous as the revert record says."""
    with StateLock():
        st = read_state()
        if st.get("state") != "switched" or (run and st.get("run_id") != run):
            return None
        try:
            with open(REVERT) as f:
                back = json.load(f)
        except (OSError, ValueError):
            return None
        back["updated"] = _now()
        if back.get("history") and reason:
            back["history"][-1]["reason"] = reason
            back["history"][-1]["time"] = back["updated"]
        stop_timer(st.get("run_id"))
        write_state(back)
        point("current", back.get("current"))
        point("previous", back.get("previous"))
        _remove(REVERT)
    since = restart(unit, back.get("current")) if do_restart else None
    return {"reverted": True, "current": back.get("current"), "from": st.get("current"), "since": since,
            "unit": unit_props(unit)}


def cmd_revert(args):
    done = revert(args.reason, args.run, args.restart, args.unit)
    print(json.dumps(done or {"reverted": False, "current": release_of("current")}))
    return 0


def cmd_guard(args):
    done = revert("rebooted before the switch was committed", None, False, args.unit)
    print(json.dumps(done or {"reverted": False}))
    return 0


def cmd_probe(args):
    if args.invocation:  # this start of the app only: not the old one's last words
        window = ["_SYSTEMD_INVOCATION_ID=" + args.invocation]
    else:
        window = ["-u", args.unit] + (["-n", str(args.lines)] if args.lines else ["--since", "@%.3f" % args.since])
    journal = read_journal(window)
    if args.wait > 0:
        journal = wait_for_perf(window, journal, args)
    print(json.dumps({"unit": unit_props(args.unit), "journal": journal, "now": _now(),
                      "current": release_of("current"), "state": read_state().get("state")}))
    return 0


def read_journal(window):
    return subprocess.run(["journalctl", *window, "-o", "short-unix", "--no-pager", "-q"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True).stdout


def wait_for_perf(window, journal, args):
    """The journal once it holds more than `--seen` **PERF: lines, the app's process is gone,
    or `--wait` seconds passed: the gate's next look then has something new to judge.

    Sleeps until `--due` (when the next line is expected), then reads the journal every
    PERF_POLL_S: `journalctl -f` would hear of a line only when journald next announces a
    change, a quarter second or more after the line is in the file.
    """
    end = _now() + args.wait
    pid = unit_props(args.unit).get("MainPID", "0")
    while journal.count("**PERF:") <= args.seen and pid != "0" and os.path.exists("/proc/" + pid):
        now = _now()
        if now >= end:
            break
        time.sleep(min(args.due - now if args.due > now else PERF_POLL_S, end - now))
        journal = read_journal(window)
    return journal


ENGINE_LINE = re.compile(r"^\s*model-engine-file\s*=\s*(\S+)", re.M)


def release_id(name):
    """The release a directory holds: a config slot `ID@cfg-DIGEST` is release ID."""
    return name.partition("@cfg-")[0]


def cmd_prune(args):
    """Keep the newest `keep` releases with every directory of each (a config slot counts as
    its release, so new vars for one model never push out an older model), current and
    previous whatever they are, and the engines they use."""
    rel_dir = os.path.join(ROOT, "releases")
    keep_ids = {release_of("current"), release_of("previous")}
    st = read_state()
    if st.get("state") == "switched":
        try:
            with open(REVERT) as f:
                back = json.load(f)
            keep_ids |= {back.get("current"), back.get("previous")}
        except (OSError, ValueError):
            pass
    names = [n for n in os.listdir(rel_dir) if not n.startswith(".")] if os.path.isdir(rel_dir) else []
    names.sort(key=lambda n: os.stat(os.path.join(rel_dir, n)).st_mtime, reverse=True)
    releases = list(dict.fromkeys(release_id(n) for n in names))  # newest first
    kept = set(releases[:max(args.keep, 1)])
    keep_ids |= {n for n in names if release_id(n) in kept}  # every config of a kept release
    removed = []
    for name in names:
        if name not in keep_ids:
            shutil.rmtree(os.path.join(rel_dir, name), ignore_errors=True)
            removed.append(name)
    used = set()
    for name in keep_ids - {None}:
        try:
            with open(os.path.join(rel_dir, name, "config_infer_primary.txt")) as f:
                used |= {os.path.basename(p) for p in ENGINE_LINE.findall(f.read())}
        except OSError:
            pass
    engines_dir = os.path.join(ROOT, "engines")
    dropped = []
    if os.path.isdir(engines_dir):
        for n in os.listdir(engines_dir):
            if n.endswith(".engine") and n not in used:
                key = n[:-7]
                for suffix in (".engine", ".log"):
                    try:
                        os.unlink(os.path.join(engines_dir, key + suffix))
                    except FileNotFoundError:
                        pass
                dropped.append(key)
    print(json.dumps({"removed_releases": removed, "removed_engines": dropped}))
    return 0


def main(argv):
    p = argparse.ArgumentParser(prog="y7deploy-device")
    sub = p.add_subparsers(dest="cmd")
    for name in ("state", "stage", "switch", "commit", "revert", "guard", "probe", "prune"):
        s = sub.add_parser(name)
        s.add_argument("--unit", default=UNIT)
        if name == "switch":
            s.add_argument("--to", required=True)
            s.add_argument("--run", required=True)
            s.add_argument("--deadline", type=int, required=True)
        if name == "commit":
            s.add_argument("--run", required=True)
        if name == "revert":
            s.add_argument("--run")
            s.add_argument("--restart", action="store_true")
            s.add_argument("--reason", default="reverted")
        if name == "probe":
            s.add_argument("--since", type=float, default=0.0)
            s.add_argument("--lines", type=int, default=0)
            s.add_argument("--invocation", default="")
            s.add_argument("--wait", type=float, default=0.0)
            s.add_argument("--seen", type=int, default=0)
            s.add_argument("--due", type=float, default=0.0)
        if name == "prune":
            s.add_argument("--keep", type=int, default=3)
    args = p.parse_args(argv)
    if not args.cmd:
        p.print_usage(sys.stderr)
        return 2
    return globals()["cmd_" + args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
