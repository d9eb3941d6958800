"""The health gate: the app's journal and its unit's state to a verdict.

Pure functions over text, written against what nvinfer and deepstream-app print
(NVIDIA-FACTS.md; DeepStream's nvdsinfer_context_impl.cpp and deepstream_app.c):

- engine found: "deserialized trt engine from :PATH";
- engine not usable, rebuilt: "Trying to create engine from model files" (after
  "Deserialize engine failed ..." or "deserialize engine from file :F failed"), the INT8
  fallbacks "... Trying FP16 mode." and "Backend has maxBatchSize B whereas R has been
  requested" lead there too;
- `**PERF:  FPS 0 (Avg)\\tFPS 1 (Avg)...` header (repeated every 20 lines), then per
  interval one line of `%.2f (%.2f)\\t` per stream (current, average);
- the app ended: "App run successful" (exit 0) or "App run failed".

Journal lines may carry journalctl's prefixes ("Dec 01 02:00:00 host deepstream-app[7]: "
or `-o short-unix`'s "1733018400.123456 host ..."): matches are searched anywhere in a line,
and a short-unix timestamp, when there, dates the PERF samples.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping

_DESERIALIZED = re.compile(r"deserialized trt engine from :\s*(\S+)")
_REBUILD = "Trying to create engine from model files"
_REBUILD_CAUSES = (
    re.compile(r"Deserialize engine failed[^\n]*"),
    re.compile(r"deserialize engine from file :\S+ failed"),
    re.compile(r"INT8 calibration file not specified\. Trying FP16 mode\."),
    re.compile(r"INT8 not supported by platform\. Trying FP16 mode\."),
    re.compile(r"Backend has maxBatchSize \d+ whereas \d+ has been requested"),
    re.compile(r"deserialize backend context from engine from file :\S+ failed, try rebuild"),
    re.compile(r"failed to match config params, trying rebuild"),
)
_SERIALIZED = re.compile(r"serialize cuda engine to file: (\S+) successfully")
_PERF_HEADER = re.compile(r"\*\*PERF:\s+FPS 0 \(Avg\)")
_PERF_STREAM = re.compile(r"(\d+(?:\.\d+)?)\s*\((\d+(?:\.\d+)?)\)")
_PERF_LINE = re.compile(r"\*\*PERF:\s+\d")
_SENDER = re.compile(r"^\S+ \S+ [^\s\[]+\[(\d+)\]: ")  # journalctl -o short-unix: TIME HOST IDENT[PID]:
_UNIX_TIME = re.compile(r"^\s*(\d{9,}\.\d+)\s")
_ERROR = re.compile(r"\bERROR\b|\*\* ERROR:")


@dataclass(frozen=True)
class PerfSample:
    fps: tuple[float, ...]  # per stream, over the last interval
    avg: tuple[float, ...]  # per stream, since the start
    time: float | None = None  # epoch seconds, when the journal line carried them


@dataclass(frozen=True)
class JournalReport:
    engine_loaded: str | None = None  # the path nvinfer deserialized, when it did
    rebuilt: bool = False  # "Trying to create engine from model files" was seen
    rebuild_causes: tuple[str, ...] = ()
    engine_written: str | None = None  # where a rebuild serialized its engine
    streams: int = 0  # from the last **PERF: header
    perf: tuple[PerfSample, ...] = ()
    app_exited: str | None = None  # "App run successful" / "App run failed"
    errors: tuple[str, ...] = field(default=())

    @property
    def last_fps(self) -> tuple[float, ...]:
        return self.perf[-1].fps if self.perf else ()


def read_journal(text: str, pid: int | None = None) -> JournalReport:
    """What the app's journal since its (re)start says; with `pid`, only that process's lines.

    journald can tag the last lines of the process a restart stopped ("Quitting", "App run
    successful") with the new start's invocation when it reads them after the restart (a
    busy device): they name the old process's PID, not the new one's.
    """
    loaded = written = exited = None
    rebuilt = False
    causes: list[str] = []
    errors: list[str] = []
    perf: list[PerfSample] = []
    streams = 0
    for line in text.splitlines():
        if pid and (said := _SENDER.match(line)) and int(said.group(1)) != pid:
            continue
        if match := _DESERIALIZED.search(line):
            loaded = match.group(1)
        if _REBUILD in line:
            rebuilt = True
        for cause in _REBUILD_CAUSES:
            if match := cause.search(line):
                causes.append(match.group(0))
        if match := _SERIALIZED.search(line):
            written = match.group(1)
        if "App run successful" in line:
            exited = "App run successful"
        elif "App run failed" in line:
            exited = "App run failed"
        if _PERF_HEADER.search(line):
            streams = line.count("(Avg)")
            continue
        if _PERF_LINE.search(line):
            body = line[line.index("**PERF:") + len("**PERF:"):]
            pairs = _PERF_STREAM.findall(body)
            stamp = _UNIX_TIME.match(line)
            perf.append(PerfSample(tuple(float(a) for a, _ in pairs), tuple(float(b) for _, b in pairs),
                                   float(stamp.group(1)) if stamp else None))
            continue
        if _ERROR.search(line):
            errors.append(line.strip())
    return JournalReport(engine_loaded=loaded, rebuilt=rebuilt, rebuild_causes=tuple(causes),
                         engine_written=written, streams=streams, perf=tuple(perf), app_exited=exited,
                         errors=tuple(errors))


@dataclass(frozen=True)
class UnitState:
    active_state: str = ""
    sub_state: str = ""
    n_restarts: int = 0
    main_pid: int = 0
    started_monotonic: int = 0  # ExecMainStartTimestampMonotonic, microseconds

    @property
    def running(self) -> bool:
        return self.active_state == "active" and self.sub_state == "running"


def parse_unit(text: str) -> UnitState:
    """`systemctl show UNIT -p ActiveState,SubState,NRestarts,MainPID,ExecMainStartTimestampMonotonic`."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()

    def number(key: str) -> int:
        value = values.get(key, "")
        return int(value) if value.isdigit() else 0

    return UnitState(active_state=values.get("ActiveState", ""), sub_state=values.get("SubState", ""),
                     n_restarts=number("NRestarts"), main_pid=number("MainPID"),
                     started_monotonic=number("ExecMainStartTimestampMonotonic"))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    fps: tuple[float, ...] = ()  # the worst per-stream FPS over the window, when measured
    pending: bool = False  # not decided yet: keep watching until the deadline

    @property
    def failed(self) -> bool:
        return not self.ok and not self.pending


def verdict(report: JournalReport, unit_before: UnitState, unit_after: UnitState, min_fps: float,
            window_s: float, n_streams: int, *, perf_interval_s: float = 5.0,
            engine_path: str | None = None) -> Verdict:
    """Pass when the unit stayed up without restarts, the engine was deserialized (from
    `engine_path` when given) and never rebuilt, and the last PERF samples covering
    `window_s` show every one of `n_streams` streams at or above `min_fps`.

    A failure that no more waiting can mend is final (pending=False); too few samples yet
    is pending. The caller stops at its deadline and then treats pending as failed.
    """
    if unit_after.n_restarts != unit_before.n_restarts:
        return Verdict(False, f"unit restarted {unit_after.n_restarts - unit_before.n_restarts} time(s)"
                              f" during the gate (NRestarts {unit_before.n_restarts} -> {unit_after.n_restarts})")
    if unit_before.main_pid and unit_after.main_pid and unit_after.main_pid != unit_before.main_pid:
        return Verdict(False, f"the app's process changed during the gate (pid {unit_before.main_pid} -> "
                              f"{unit_after.main_pid})")
    if report.rebuilt:
        cause = f" ({report.rebuild_causes[0]})" if report.rebuild_causes else ""
        return Verdict(False, f"nvinfer rebuilt the engine from the model files{cause}: "
                              "the engine at model-engine-file was not used")
    if report.app_exited:
        return Verdict(False, f"the app ended: {report.app_exited}")
    if not unit_after.running:
        return Verdict(False, f"unit is {unit_after.active_state or 'unknown'}"
                              f"/{unit_after.sub_state or 'unknown'}, not active/running")
    if report.engine_loaded is None:
        return Verdict(False, "no engine deserialized yet", pending=True)
    if engine_path and report.engine_loaded != engine_path:
        return Verdict(False, f"nvinfer loaded {report.engine_loaded}, not {engine_path}")
    return _fps_verdict(report.perf, min_fps, window_s, n_streams, perf_interval_s)


def _fps_verdict(perf: tuple[PerfSample, ...], min_fps: float, window_s: float, n_streams: int,
                 interval_s: float) -> Verdict:
    need = max(1, math.ceil(window_s / interval_s)) if interval_s > 0 else 1
    good: list[PerfSample] = []
    for sample in reversed(perf):  # the trailing run of samples where every stream kept up
        if len(sample.fps) != n_streams or min(sample.fps, default=0.0) < min_fps:
            break
        good.append(sample)
    good.reverse()
    timed = [s.time for s in good if s.time is not None]
    if len(timed) == len(good) and len(good) >= 2:
        covered = timed[-1] - timed[0] + interval_s
    else:
        covered = len(good) * interval_s
    if good and covered >= window_s and len(good) >= need:
        worst = tuple(min(s.fps[i] for s in good) for i in range(n_streams))
        return Verdict(True, f"{n_streams} stream(s) at or above {min_fps:g} FPS for {round(covered, 1):g} s "
                             f"(lowest {min(worst):.2f})", worst)
    last = perf[-1] if perf else None
    if last is None:
        return Verdict(False, "no **PERF: figures yet", pending=True)
    if len(last.fps) != n_streams:
        return Verdict(False, f"**PERF: shows {len(last.fps)} stream(s), expected {n_streams}", last.fps,
                       pending=True)
    if min(last.fps) < min_fps:
        slow = ", ".join(f"stream {i} {f:.2f}" for i, f in enumerate(last.fps) if f < min_fps)
        return Verdict(False, f"below {min_fps:g} FPS: {slow}", last.fps, pending=True)
    return Verdict(False, f"{round(covered, 1):g} of {window_s:g} s at or above {min_fps:g} FPS so far", last.fps,
                   pending=True)


def unit_from_mapping(values: Mapping[str, str]) -> UnitState:
    """The same as parse_unit, from a systemd module's `status` mapping."""
    return parse_unit("\n".join(f"{k}={v}" for k, v in values.items()))
