"""Running the stand-ins inside lab hosts and waiting on what they log, not on the clock.

deepstream-app runs in the background inside the host; its JSON event log
(/var/log/deepstream-standin.log, see y7deploy/lab/README.md "Logs for tests") says when
it is playing, printing **PERF:, or gone, so a test waits for those events.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from dataclasses import dataclass, field

DS_LOG = "/var/log/deepstream-standin.log"
TRT_LOG = "/var/log/trtexec-standin.log"
TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
SAFETY_S = 120.0  # only a hung stand-in ever reaches this


@dataclass
class AppRun:
    returncode: int
    output: str
    events: list[dict] = field(default_factory=list)

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]

    def first(self, name: str) -> dict:
        return next(e for e in self.events if e["event"] == name)

    def perf_rows(self) -> list[list[float]]:
        rows = []
        for line in self.output.splitlines():
            if line.startswith("**PERF:") and "FPS" not in line:
                rows.append([float(cell.split()[0]) for cell in line[len("**PERF:"):].split("\t") if cell.strip()])
        return rows


def events(lab, host: str, path: str = DS_LOG) -> list[dict]:
    text = lab.root(host, f"cat {path} 2>/dev/null").stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for(check, what: str, timeout: float = SAFETY_S, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting for {what}")


def start_app(lab, host: str, workdir: str, config: str, user: str = "root") -> str:
    """Start deepstream-app in the background in `workdir`; returns the tag of its files."""
    tag = f"/tmp/ds-{time.monotonic_ns()}"
    lab.root(host, f": > {DS_LOG}")
    runner = "" if user == "root" else f"runuser -u {user} -- "
    inner = f"cd {shlex.quote(workdir)} && {runner}deepstream-app -c {shlex.quote(config)} > {tag}.out 2>&1; echo $? > {tag}.rc"
    proc = lab.root(host, f"setsid sh -c {shlex.quote(inner)} < /dev/null > /dev/null 2>&1 &")
    assert proc.returncode == 0, proc.stderr
    return tag


def app_pid(lab, host: str) -> int:
    return wait_for(lambda: next((e["pid"] for e in events(lab, host) if e["event"] == "start"), None),
                    "deepstream-app to start")


def finish_app(lab, host: str, tag: str, signal: str | None = "INT") -> AppRun:
    """Stop the app with `signal` unless it has exited already, then collect it."""
    if signal and not any(e["event"] == "exit" for e in events(lab, host)):
        lab.root(host, f"kill -{signal} {app_pid(lab, host)} 2>/dev/null")
    rc = wait_for(lambda: lab.root(host, f"cat {tag}.rc 2>/dev/null").stdout.strip(), "deepstream-app to exit")
    out = lab.root(host, f"cat {tag}.out; rm -f {tag}.out {tag}.rc").stdout
    return AppRun(int(rc), out, events(lab, host))


def run_app(lab, host: str, workdir: str, config: str, until: tuple[str, ...] = ("perf-started",),
            user: str = "root", signal: str | None = "INT") -> AppRun:
    """Run deepstream-app until one of the events `until` (or its exit), then SIGINT it."""
    tag = start_app(lab, host, workdir, config, user)
    wait_for(lambda: any(e["event"] in (*until, "exit") for e in events(lab, host)),
             f"deepstream-app event {until}")
    return finish_app(lab, host, tag, signal)


def trtexec(lab, host: str, workdir: str, args: str) -> subprocess.CompletedProcess:
    return lab.root(host, f"cd {shlex.quote(workdir)} && {TRTEXEC} {args}")


def trt_calls(lab, host: str) -> list[dict]:
    return events(lab, host, TRT_LOG)


def tiny_onnx(batch, opset=12) -> bytes:
    """A one-node ONNX model with a YOLO-shaped input `images` [batch, 3, 32, 32]; `batch`
    a number (static) or a name (dynamic). An explicit opset: onnx's default is its newest,
    which no TensorRT in the lab parses."""
    import numpy as np
    import pytest

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 32, 32])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 3, 32, 32])
    w = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Mul", ["images", "w"], ["output"])], "g", [x], [y],
                              initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


APP_CONFIG = """\
[application]
enable-perf-measurement=1
perf-measurement-interval-sec={interval}

[source0]
enable=1
type={source_type}
uri={uri}
num-sources=1
{source_extra}
[sink0]
enable=1
type=1
sync=0

[primary-gie]
enable={gie}
gie-unique-id=1
config-file=config_infer_primary.txt

[tests]
file-loop={file_loop}
"""

SAMPLE = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"

INFER_CONFIG = """\
[property]
gpu-id=0
net-scale-factor=0.0039215697906911373
onnx-file={onnx}
model-engine-file={engine}
labelfile-path=labels.txt
batch-size=1
network-mode={mode}
num-detected-classes={classes}
network-type=0
cluster-mode=2
parse-bbox-func-name={parse}
{extra}
[class-attrs-all]
pre-cluster-threshold=0.25
"""


def app_config(uri=SAMPLE, source_type=3, interval=1, file_loop=1, gie=1, source_extra="") -> str:
    return APP_CONFIG.format(uri=uri, source_type=source_type, interval=interval, file_loop=file_loop,
                             gie=gie, source_extra=source_extra)


def infer_config(engine="none.engine", onnx="static.onnx", mode=2, classes=2, parse="NvDsInferParseYolo",
                 extra="") -> str:
    return INFER_CONFIG.format(engine=engine, onnx=onnx, mode=mode, classes=classes, parse=parse, extra=extra)


def wait_rebooted(lab, host: str, boot_id: bytes, timeout: float = 120) -> None:
    """Wait until `host` runs a boot other than `boot_id` and answers SSH again."""
    def new_boot():
        try:
            return lab.get(host, "/proc/sys/kernel/random/boot_id") != boot_id
        except Exception:  # between boots: no PID 1 to enter
            return False
    wait_for(new_boot, f"{host} to boot again", timeout=timeout)
    lab.wait_ready(host, timeout=timeout)
