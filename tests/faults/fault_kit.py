"""How the fault tests run a push, catch the step to break it at, and judge every device after.

Everything a verdict rests on is read inside the host as root (the lab's nsenter, not SSH
and not y7deploy): the links, state.json, the unit, the journal, the files under
/opt/y7deploy. `status --json` is then compared with that.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from deploy_lab_kit import GATE_VARS, LabFleet

ROOT = "/opt/y7deploy"
UNIT = "y7deploy-app.service"
# Small windows so that a push takes seconds: 2 s of **PERF: at 1 s intervals, a gate that
# gives up after 15 s, a device that reverts itself 30 s after a switch nobody committed.
FAULT_VARS = {**GATE_VARS, "health_window": 2, "health_deadline": 15, "commit_deadline": 30,
              "engine_build_timeout": 120, "keep_releases": 20}
STATE_WORDS = {"committed": "committed", "switched": "uncommitted", "rolled_back": "rolled back"}
TRTEXEC_BUILD = "^/usr/bin/python3 /usr/src/tensorrt/bin/trtexec --onnx"
BUILD_SECONDS = "/etc/y7deploy-lab/trtexec-build-seconds"
SPARE = ("--max-fail-percentage", "25")  # push option: one host of four may fail without stopping the rest
# The trtexec stand-in's build time while a test breaks a build. Every class holds a timing
# cache from the suite's first push, which cuts a build to a quarter: 10 s for the fault to
# land in before the engine is written (at 4 s, 1 s: a busy machine filled the disk only
# after the build, at `state staged`).
BUILD_HOLD = 40
UPLOAD_SEEN = 128 * 1024  # of a model of 1.5 MB: about 1 s of the 12 s a slowed upload takes


@dataclass
class Outcome:
    code: int
    report: dict[str, Any]
    output: str

    def result(self, host: str) -> str:
        return self.report["hosts"][host]["result"]

    def reason(self, host: str) -> str:
        return self.report["hosts"][host].get("reason") or ""

    def others(self, host: str) -> set[str]:
        """The results of every host but `host`."""
        return {r["result"] for h, r in self.report["hosts"].items() if h != host}


class Background:
    """A y7deploy command running on its own while the test breaks something."""

    def __init__(self, argv: list[str], env: dict[str, str], out: Path):
        self.out, self.err = out.with_suffix(".out"), out.with_suffix(".err")
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen(argv, stdout=o, stderr=e, env=env, start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 600) -> Outcome:
        code = self.proc.wait(timeout=timeout)
        text = self.out.read_text()
        try:
            report = json.loads(text)
        except ValueError:
            report = {}
        return Outcome(code, report, text[-3000:] + self.err.read_text()[-3000:])


class FaultFleet(LabFleet):
    """The lab as a fleet with the fault suite's vars; one host's camera feeds its app."""

    def __init__(self, lab: Any, releases: Path, root: Path):
        super().__init__(lab, releases, root)
        self.workdir = root
        self._one_host_per_class(lab)
        (self.inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(FAULT_VARS))
        self.camera_host = self.hosts[-1]
        (self.inventory / "host_vars").mkdir()
        (self.inventory / "host_vars" / f"{self.camera_host}.yml").write_text(
            yaml.safe_dump({"y7_sources": [lab.camera_uri(self.camera_host)]}))
        self._runs = 0

    def _one_host_per_class(self, lab: Any) -> None:
        """The suite pushes to one wave of canaries: the first host of each profile only."""
        first: dict[str, str] = {}
        for h in lab.hosts:
            first.setdefault(h.profile, h.name)
        keep = set(first.values())
        self.hosts = [h for h in self.hosts if h in keep]
        path = self.inventory / "hosts.yml"
        data = yaml.safe_load(path.read_text())
        for group in data["all"]["children"].values():
            group["hosts"] = {name: hv for name, hv in group.get("hosts", {}).items() if name in keep}
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    # -- running y7deploy --------------------------------------------------------------
    def start(self, release: str, *args: str) -> Background:
        """`push RELEASE --json` in the background."""
        self._runs += 1
        argv = [sys.executable, "-m", "y7deploy", "push", release, *args, "-i", str(self.inventory),
                "--releases", str(self.releases), "--json"]
        env = {**os.environ, "Y7DEPLOY_LEDGER": str(self.ledger)}
        return Background(argv, env, self.workdir / f"push-{self._runs}")

    def push_now(self, release: str, *args: str) -> Outcome:
        return self.start(release, *args).wait()

    def settle(self, release: str) -> None:
        """Start from every host committed on `release` (one round trip when it already is)."""
        done = self.push_now(release)
        assert done.code == 0, done.output
        for host in self.hosts:
            assert done.result(host) in ("committed", "unchanged"), (host, done.report["hosts"][host])

    def begin(self, release: str) -> dict[str, dict[str, str]]:
        """Every host committed on `release`; what each keeps then (see assert_nothing_lost)."""
        self.settle(release)
        return {h: self.kept(h) for h in self.hosts}

    def status(self) -> dict[str, dict[str, Any]]:
        proc = self.y7("status", "-i", str(self.inventory), "--json")
        assert proc.returncode in (0, 3), proc.stdout[-2000:] + proc.stderr[-2000:]
        return json.loads(proc.stdout)

    # -- reading a device as root --------------------------------------------------------
    def link(self, host: str, name: str) -> str | None:
        target = self.root(host, f"readlink {ROOT}/{name}").strip()
        return target.rpartition("/")[2] or None

    def unit(self, host: str, prop: str) -> str:
        return self.root(host, f"systemctl show -p {prop} --value {UNIT}").strip()

    def kept(self, host: str) -> dict[str, str]:
        """sha256 of every release file, every engine and its log, every parser build."""
        out = self.root(host, f"cd {ROOT} && {{ find releases lib -type f ! -name '.*'; "
                              "for e in engines/*.engine; do [ -f \"$e\" ] && echo \"$e\" && "
                              "[ -f \"${e%.engine}.log\" ] && echo \"${e%.engine}.log\"; done; } "
                              "| sort | xargs -r sha256sum")
        return {path: digest for digest, path in (line.split(None, 1) for line in out.splitlines())}

    def leftovers(self, host: str) -> list[str]:
        """Half-written files of a push: upload parts, the engine and its log under their temp
        names, temp state, new links. (The lab's trtexec stand-in also writes its engine to a
        `.tmp<pid>` of its own first, which trtexec does not: that one is the lab's, not counted.)"""
        out = self.root(host, f"find {ROOT} -name '*.y7part-*' -o -name '*.tmp' -o -name '*.y7new'")
        return sorted(out.split())

    def build_running(self, host: str) -> bool:
        return self.lab.root(host, ["pgrep", "-f", TRTEXEC_BUILD]).returncode == 0

    def builds(self, host: str) -> int:
        return sum(1 for c in self.trtexec_calls(host) if c.get("result") == "built")

    def set_build_seconds(self, host: str, seconds: float | None) -> None:
        if seconds is None:
            self.root(host, f"rm -f {BUILD_SECONDS}")
        else:
            self.lab.put(host, BUILD_SECONDS, f"{seconds}\n")

    @contextlib.contextmanager
    def building(self, host: str, release: str, *args: str) -> Iterator[Background]:
        """`push RELEASE` started with a long engine build on `host` (BUILD_HOLD), handed over
        once trtexec runs there; the build time goes back to the lab's default afterwards."""
        self.set_build_seconds(host, BUILD_HOLD)
        try:
            push = self.start(release, *args)
            self.wait_for(f"{host}: trtexec building", lambda: self.build_running(host), every=0.2)
            yield push
        finally:
            self.set_build_seconds(host, None)

    def model_part_bytes(self, host: str, release: str) -> int:
        """How many bytes of `release`'s model.onnx the host holds in its upload part (0: none).
        Only model.onnx's: the small files go up in one round trip through parts of their own,
        and a hand-over on one of those would cut the link before the model's upload began."""
        out = self.root(host, f"find {ROOT}/releases/{release} -name '.model.onnx.y7part-*' -printf '%s\\n' 2>/dev/null")
        return max((int(n) for n in out.split()), default=0)

    @contextlib.contextmanager
    def uploading(self, host: str, release: str, *args: str) -> Iterator[tuple[Background, int]]:
        """`push RELEASE` started over a link to `host` slowed to 1 Mbit/s (the model takes
        seconds to send), handed over with the bytes of model.onnx the host held at that moment
        (at least UPLOAD_SEEN); every fault on `host` is cleared afterwards."""
        self.lab.fault(host, "slow")
        try:
            push = self.start(release, *args)
            seen = self.wait_for(f"{host}: {UPLOAD_SEEN} bytes of {release}'s model.onnx uploaded",
                                 lambda: (n := self.model_part_bytes(host, release)) >= UPLOAD_SEEN and n, every=0.2)
            yield push, seen
        finally:
            self.lab.fault(host, "clear")

    def switched_by_other_run(self, host: str, before: dict[str, Any]) -> bool:
        st = self.state(host)
        return st.get("state") == "switched" and st.get("run_id") != before.get("run_id")

    def switching(self, release: str, *args: str, host: str | None = None, printing: bool = False) -> Background:
        """`push RELEASE` started, handed over once `host` (else any host) has switched to it,
        and, if `printing`, once the app of `release` prints its first **PERF: row there."""
        hosts = [host] if host else self.hosts
        prior = {h: self.state(h) for h in hosts}
        push = self.start(release, *args)
        self.wait_for(f"{host or 'a host'} switched to {release}" + (", its app printing" if printing else ""),
                      lambda: any(self.switched_by_other_run(h, prior[h]) and (not printing or self.app_printing(h, release))
                                  for h in hosts), every=0.2)
        return push

    def app_printing(self, host: str, release: str) -> bool:
        """The app's latest start is on `release` and has printed its first **PERF: row."""
        events = self.app_events(host)
        starts = [i for i, e in enumerate(events) if e["event"] == "start"]
        return bool(starts) and events[starts[-1]].get("cwd", "").endswith(f"/{release}") and any(
            e["event"] == "perf-started" for e in events[starts[-1]:])

    # -- verdicts ------------------------------------------------------------------------
    def assert_runs(self, host: str, release: str | None = None, window: float = 120) -> str:
        """`current` is a whole release whose engine is there, state.json agrees and is at rest,
        the unit is active and this start of the app prints **PERF: after loading that engine."""
        current = self.link(host, "current")
        assert current and (release is None or current == release), (host, current, release)
        files = self.root(host, f"ls {ROOT}/releases/{current}").split()
        assert {"model.onnx", "labels.txt", "manifest.json", "config_infer_primary.txt",
                "deepstream_app_config.txt"} <= set(files), (host, files)
        config = self.root(host, f"cat {ROOT}/releases/{current}/config_infer_primary.txt")
        engine = next(line.split("=", 1)[1].strip() for line in config.splitlines()
                      if line.startswith("model-engine-file"))
        assert self.root(host, f"test -s {engine} && echo ok").strip() == "ok", (host, engine)
        st = self.state(host)
        assert st["state"] in ("committed", "rolled_back") and st["current"] == current, (host, st)
        assert st["previous"] == self.link(host, "previous"), (host, st)
        assert f"{st['engine_key']}.engine" == engine.rpartition("/")[2], (host, st, engine)

        def perf_after_load() -> bool:
            if self.unit(host, "ActiveState") != "active":
                return False
            invocation = self.unit(host, "InvocationID")
            journal = self.root(host, f"journalctl _SYSTEMD_INVOCATION_ID={invocation} -o cat --no-pager -q")
            loaded = f"deserialized trt engine from :{engine}"
            return loaded in journal and "**PERF:" in journal.split(loaded, 1)[1]

        self.wait_for(f"{host}: the app on {current} printing **PERF: with {engine}", perf_after_load, window)
        return current

    def assert_fleet_on(self, release: str, odd: str | None = None, odd_release: str | None = None) -> None:
        """Every host runs `release`, except `odd`, which runs `odd_release`."""
        for h in self.hosts:
            self.assert_runs(h, odd_release if h == odd else release)

    def assert_status_tells_the_truth(self, down: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
        """`status --json` against each device as read from inside it; `down` hosts are unreachable."""
        rows = self.status()
        for host in self.hosts:
            row = rows[host]
            if host in down:
                assert "unreachable" in row.get("error", ""), (host, row)
                continue
            st = self.state(host)
            assert not row.get("error"), (host, row)
            assert row["current"] == self.link(host, "current") == st.get("current"), (host, row, st)
            assert row["previous"] == self.link(host, "previous"), (host, row)
            assert row["state"] == STATE_WORDS[st["state"]], (host, row, st)
            assert row["unit"].split("/")[0] == self.unit(host, "ActiveState"), (host, row)
            assert row["engine_key"] == st.get("engine_key"), (host, row, st)
        return rows

    def assert_held(self, before: dict[str, dict[str, str]], release: str, odd: str | None = None,
                    odd_release: str | None = None) -> None:
        """What a fault leaves: every host runs a whole release (`release`; `odd` its
        `odd_release`), `status` says what each device says, nothing kept on a device is lost."""
        self.assert_fleet_on(release, odd, odd_release)
        self.assert_status_tells_the_truth()
        self.assert_nothing_lost(before)

    def assert_rerun_converges(self, before: dict[str, dict[str, str]], release: str, *args: str,
                               committed: Iterable[str] = ()) -> Outcome:
        """The same push run again, with no manual step in between: it exits 0, switches the
        `committed` hosts to `release` and finds the others already there; then every host runs
        it, no half-written file is left anywhere, nothing kept is lost."""
        again = self.push_now(release, *args)
        assert again.code == 0, again.output
        want = {h: "committed" if h in set(committed) else "unchanged" for h in self.hosts}
        assert {h: again.result(h) for h in self.hosts} == want, again.output
        self.assert_fleet_on(release)
        assert {h: self.leftovers(h) for h in self.hosts} == {h: [] for h in self.hosts}
        self.assert_nothing_lost(before)
        return again

    def assert_nothing_lost(self, before: dict[str, dict[str, str]]) -> None:
        for host, files in before.items():
            now = self.kept(host)
            lost = {p for p in files if p not in now}
            changed = {p for p in files if p in now and now[p] != files[p]}
            assert not lost and not changed, (host, sorted(lost), sorted(changed))
