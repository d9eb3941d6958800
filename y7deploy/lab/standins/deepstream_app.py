#!/usr/bin/python3
"""deepstream-app STAND-IN of the y7deploy lab: a test double, not NVIDIA DeepStream.

`deepstream-app -c APP_CONFIG` reads the app config and the nvinfer config as GLib key
files, checks what deepstream-app and nvinfer check before PLAYING (enabled source and
sink, files that must exist, sink type 6's keys, RTSP cameras reachable), dlopens
custom-lib-path and looks up the parser and engine-create functions, deserializes the
engine or rebuilds it where nvinfer writes it, then plays: `**PERF:` lines every
perf-measurement-interval-sec, a file source ends after the lab's stream length when
[tests] file-loop=0 ("App run successful", exit 0), SIGINT stops it cleanly, failures
exit 255. Every step is a JSON line in /var/log/deepstream-standin.log.

Lab knobs in /etc/y7deploy-lab: deepstream-fps (FPS per stream), stream-seconds (length
of a file source), trtexec-build-seconds (engine build time), faults/app-crash.
"""

import ctypes
import os
import random
import re
import signal
import socket
import sys
import time

sys.path.insert(0, "/usr/lib/y7deploy-lab")
import engine  # noqa: E402

LOG = "/var/log/deepstream-standin.log"
CRASH_FLAG = "/etc/y7deploy-lab/faults/app-crash"
BASE_FPS = {"5.3": 24.0, "7.2": 60.0, "8.7": 110.0}
PRECISION_SPEEDUP = {"fp32": 1.0, "fp16": 1.8, "int8": 2.6}
NETWORK_MODE = {"0": "fp32", "1": "int8", "2": "fp16"}
PERF_HEADER_EVERY = 20  # deepstream-app prints the header again after this many rows
FAILED = 255  # deepstream-app's main returns -1
T0 = time.monotonic()


class KeyFileError(Exception):
    pass


class StartFailed(Exception):
    """A check before PLAYING failed; the message lines were printed already."""


def log(event, **fields):
    engine.log_event(LOG, dict(fields, event=event))


def parse_key_file(path):
    """GLib key-file syntax: [groups], key=value, # comments; later keys win."""
    groups, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                current = groups.setdefault(stripped[1:-1], {})
                continue
            if "=" not in line:
                raise KeyFileError(f"Key file contains line \u201c{line}\u201d which is not a "
                                   "key-value pair, group, or comment")
            if current is None:
                raise KeyFileError("Key file does not start with a group")
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return groups


def ts():
    t = time.monotonic() - T0
    return f"0:00:{t:012.9f}"


def nvinfer(level, where, msg):
    print(f"{ts()} {os.getpid():>6} 0x55d0c0de {level:<7} nvinfer gstnvinfer.cpp:682:"
          f"gst_nvinfer_logger:<primary_gie> NvDsInferContext[UID 1]: {where} [UID = 1]: {msg}",
          flush=True)


def error(msg):
    print(f"** ERROR: {msg}", file=sys.stderr, flush=True)


def fail(*lines):
    for line in lines:
        print(line, flush=True)
    raise StartFailed()


def resolve(base_dir, value):
    value = value.strip().strip('"')
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base_dir, value))


def three_part(version):
    parts = version.split(".") + ["0", "0"]
    return ".".join(parts[:3])


def version(prof, full):
    ds = three_part(prof["deepstream"])
    print(f"deepstream-app version {ds}\nDeepStreamSDK {ds}")
    if full:
        cudnn = ".".join(prof["cudnn"].split(".")[:2])
        print(f"CUDA Driver Version: {prof['cuda_short']}\nCUDA Runtime Version: {prof['cuda_short']}\n"
              f"TensorRT Version: {prof['trt_short']}\ncuDNN Version: {cudnn}\n"
              "libNVWarp360 Version: 2.0.1d3")


def main(argv):
    prof = engine.profile()
    if "--version-all" in argv:
        version(prof, full=True)
        return 0
    if "--version" in argv or "-v" in argv:
        version(prof, full=False)
        return 0
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return 0
    config = None
    for i, a in enumerate(argv):
        if a in ("-c", "--cfg-file") and i + 1 < len(argv):
            config = argv[i + 1]
        elif a.startswith("--cfg-file="):
            config = a.split("=", 1)[1]
    if not config:
        error("<main:655>: Specify config file with -c option")
        return exit_with(FAILED, "no config")
    config = os.path.abspath(config)
    log("start", config=config, cwd=os.getcwd(), argv=argv)
    try:
        app = parse_key_file(config)
    except (OSError, KeyFileError, UnicodeDecodeError) as exc:
        error(f"<parse_config_file:613>: Failed to parse config file '{config}': {exc}")
        error(f"<main:658>: Failed to parse config file '{config}'")
        print("Quitting\nApp run failed")
        return exit_with(FAILED, "config parse")
    app_dir = os.path.dirname(config)
    try:
        sources = check_sources(app, app_dir)
        check_sinks(app, app_dir)
        started = start_gie(app, app_dir, prof)
    except StartFailed:
        print("Quitting\nApp run failed", flush=True)
        return exit_with(FAILED, "start")
    return run(app, sources, started, prof)


def exit_with(code, reason):
    log("exit", code=code, reason=reason)
    return code


# --- sources and sinks ---------------------------------------------------------------------


def check_sources(app, app_dir):
    """[{"group", "kind", "uri"}] of the enabled sources (num-sources each), or StartFailed."""
    groups = [g for g in app if g.startswith("source") and app[g].get("enable", "0") == "1"]
    if not groups:
        error("<create_multi_source_bin:1523>: No sources enabled")
        fail()
    streams = []
    for g in groups:
        s = app[g]
        kind = {"1": "v4l2", "2": "uri", "3": "uri", "4": "rtsp", "5": "csi"}.get(s.get("type", ""), "other")
        uri = s.get("uri", "")
        if kind == "uri" and uri.startswith("rtsp://"):
            kind = "rtsp"
        if kind == "uri" and uri.startswith("file://"):
            if not os.path.exists(resolve(app_dir, uri[len("file://"):])):
                error("<bus_callback:225>: ERROR from src_elem: Resource not found.")
                fail()
            kind = "file"
        for _ in range(int(s.get("num-sources", "1") or 1)):
            streams.append({"group": g, "kind": kind, "uri": uri,
                            "reconnect": float(s.get("rtsp-reconnect-interval-sec", "0") or 0),
                            "attempts": int(s.get("rtsp-reconnect-attempts", "-1") or -1)})
    return streams


def rtsp_reachable(uri, timeout=2.0):
    """An RTSP OPTIONS round trip to the camera (the lab camera answers it)."""
    m = re.match(r"rtsps?://(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?", uri)
    if not m:
        return False
    host, port = m.group(1).strip("[]"), int(m.group(2) or 554)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"OPTIONS {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            return s.recv(64).startswith(b"RTSP/1.0 200")
    except OSError:
        return False


# deepstream_app_config_parser.c's sink keys for type 6 (nvmsgconv + nvmsgbroker).
MSG_SINK_KEYS = {"msg-conv-config", "msg-conv-payload-type", "msg-conv-msg2p-lib", "msg-conv-comp-id",
                 "msg-conv-msg2p-new-api", "msg-conv-frame-interval", "msg-broker-proto-lib",
                 "msg-broker-conn-str", "topic", "msg-broker-config", "msg-broker-comp-id",
                 "disable-msgconv", "new-api", "enable", "type", "sync", "source-id"}


def check_sinks(app, app_dir):
    sinks = [g for g in app if g.startswith("sink") and app[g].get("enable", "0") == "1"]
    if not sinks:
        error("<create_pipeline:1371>: No sinks enabled")  # stand-in wording
        fail()
    for g in sinks:
        s = app[g]
        if s.get("type") != "6":
            continue
        for key in s:
            if key not in MSG_SINK_KEYS:
                print(f"** WARN: <parse_sink:1420>: Unknown key '{key}' for group [{g}]", flush=True)
        lib = s.get("msg-broker-proto-lib")
        if not lib:
            error(f"<parse_sink:1436>: msg-broker-proto-lib not set for [{g}]")
            fail()
        if not os.path.isfile(resolve(app_dir, lib)):
            error(f"<create_msg_conv_broker_bin:{172}>: unable to open shared library {lib}")  # stand-in wording
            fail()
        conv = s.get("msg-conv-config")
        if conv and not os.path.isfile(resolve(app_dir, conv)):
            error(f"<create_msg_conv_broker_bin:133>: msg-conv-config file {conv} not found")  # stand-in wording
            fail()
        broker_cfg = s.get("msg-broker-config")
        if broker_cfg and not os.path.isfile(resolve(app_dir, broker_cfg)):
            error(f"<create_msg_conv_broker_bin:160>: msg-broker-config file {broker_cfg} not found")
            fail()
        conn = s.get("msg-broker-conn-str", "")
        if "kafka" in os.path.basename(lib) and not re.fullmatch(r"[^;\s]+;\d+(;[^;\s]+)?", conn):
            error(f"<create_msg_conv_broker_bin:172>: invalid connection string '{conn}' for Kafka: "
                  "expected host;port[;topic]")  # stand-in wording
            fail()
        if "kafka" in os.path.basename(lib) and not s.get("topic") and conn.count(";") < 2:
            error("<create_msg_conv_broker_bin:172>: no topic for Kafka (topic= or host;port;topic)")
            fail()


# --- nvinfer ---------------------------------------------------------------------------------


def start_gie(app, app_dir, prof):
    gie = app.get("primary-gie", {})
    if gie.get("enable") != "1":
        return {"engine": None}
    if "config-file" not in gie:
        error("<parse_gie:1164>: config-file not specified for primary-gie")
        fail()
    infer_path = resolve(app_dir, gie["config-file"])
    try:
        infer = parse_key_file(infer_path).get("property", {})
    except (OSError, KeyFileError) as exc:
        error(f"<parse_gie:1180>: Failed to parse nvinfer config '{infer_path}': {exc}")
        fail()
    base = os.path.dirname(infer_path)
    # Keys given in [primary-gie] override the nvinfer file's (paths relative to the app config).
    for key in ("model-engine-file", "labelfile-path"):
        if key in gie:
            infer[key] = resolve(app_dir, gie[key])
    batch = int(gie.get("batch-size") or infer.get("batch-size", "1"))
    return nvinfer_start(infer, base, batch, prof)


def open_custom_lib(p, base):
    """dlopen custom-lib-path as nvinfer does; (handle, path) or StartFailed."""
    lib = p.get("custom-lib-path")
    if not lib:
        return None, None
    lib = resolve(base, lib)
    try:
        handle = ctypes.CDLL(lib, mode=os.RTLD_LAZY)
    except OSError as exc:
        print(f"ERROR: Could not open lib: {lib}, error string: {exc}", flush=True)
        nvinfer("ERROR", "Error in NvDsInferContextImpl::initialize() <nvdsinfer_context_impl.cpp:1299>",
                "Could not open custom lib: (null)")
        log("custom-lib-failed", path=lib, error=str(exc))
        error("<main:716>: Failed to set pipeline to PAUSED")
        fail()
    log("custom-lib-loaded", path=lib)
    return handle, lib


def has_symbol(handle, name):
    try:
        getattr(handle, name)
        return True
    except AttributeError:
        return False


def nvinfer_start(p, base, batch, prof):
    if p.get("network-type", "0") == "0" and "num-detected-classes" not in p:
        print("Error. 'num-detected-classes' is required for detectors", flush=True)  # stand-in wording
        error("<primary_gie:create>: Failed to create 'primary_gie'")
        fail()
    if p.get("labelfile-path"):
        labels = resolve(base, p["labelfile-path"])
        if not os.path.isfile(labels):
            print(f"Could not open labels file:{labels}", flush=True)
            error("<main:716>: Failed to set pipeline to PAUSED")
            fail()
    handle, lib = open_custom_lib(p, base)
    parse_func = p.get("parse-bbox-func-name")
    if handle is not None and parse_func and p.get("network-type", "0") == "0":
        if not has_symbol(handle, parse_func):
            nvinfer("ERROR", "Error in NvDsInferContextImpl::initialize() <nvdsinfer_context_impl.cpp:1286>",
                    f"Could not find parse func '{parse_func}' in custom library")
            log("custom-lib-symbol-missing", path=lib, symbol=parse_func)
            error("<main:716>: Failed to set pipeline to PAUSED")
            fail()

    precision = NETWORK_MODE.get(p.get("network-mode", "0"), "fp32")
    if precision == "int8":
        precision = int8_or_fallback(p, base, prof)
    onnx = resolve(base, p["onnx-file"]) if p.get("onnx-file") else None
    want = resolve(base, p["model-engine-file"]) if p.get("model-engine-file") else None
    header = deserialize(want, batch, prof) if want else None
    if header is None:
        header = rebuild(p, base, onnx, want, batch, precision, prof, handle, lib)
    return {"engine": header}


def int8_or_fallback(p, base, prof):
    """nvinfer's INT8 checks: the precision actually built (fp16 when INT8 can't be)."""
    if not engine.fast_int8(prof):
        reason, text = "platform", "INT8 not supported by platform. Trying FP16 mode."
    else:
        calib = resolve(base, p["int8-calib-file"]) if p.get("int8-calib-file") else None
        if calib and os.access(calib, os.R_OK):
            return "int8"
        reason, text = "calibration", "INT8 calibration file not specified. Trying FP16 mode."
    nvinfer("WARN", "Warning from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:1994>", text)
    log("int8-fallback", reason=reason, precision="fp16")
    return "fp16"


def deserialize(want, batch, prof):
    """The engine's header when nvinfer takes the engine file as it is, else None."""
    if not os.path.isfile(want):
        print(f"WARNING: Deserialize engine failed because file path: {want} open error", flush=True)
        reason = "missing"
    else:
        header = engine.read(want)
        errors = engine.incompatibility(header, prof)
        reason = "incompatible" if errors else None
        if not errors:
            warning = engine.cross_model_warning(header, prof)
            if warning:
                print(f"WARNING: [TRT]: {warning}", flush=True)
            if header["batch"]["max"] < batch:
                print(f"WARNING: Backend has maxBatchSize {header['batch']['max']} whereas {batch} "
                      "has been requested", flush=True)
                nvinfer("WARN", "Warning from NvDsInferContextImpl::checkBackendParams() "
                        "<nvdsinfer_context_impl.cpp:2018>", "backend can not support max batch "
                        f"size:{batch}, ...")
                nvinfer("WARN", "Warning from NvDsInferContextImpl::generateBackendContext() "
                        "<nvdsinfer_context_impl.cpp:2190>",
                        f"deserialized backend context :{want} failed to match config params, trying rebuild")
                log("engine-refused", path=want, reason="batch")
                return None
            nvinfer("INFO", "Info from NvDsInferContextImpl::deserializeEngineAndBackend() "
                    "<nvdsinfer_context_impl.cpp:2092>", f"deserialized trt engine from :{want}")
            log("engine-loaded", path=want, header=header, cross_model=bool(warning))
            return header
        for e in errors:
            print(f"ERROR: [TRT]: {e}", flush=True)
        print(f"ERROR: Deserialize engine failed from file: {want}", flush=True)
    nvinfer("WARN", "Warning from NvDsInferContextImpl::deserializeEngineAndBackend() "
            "<nvdsinfer_context_impl.cpp:2080>", f"deserialize engine from file :{want} failed")
    nvinfer("WARN", "Warning from NvDsInferContextImpl::generateBackendContext() "
            "<nvdsinfer_context_impl.cpp:2185>",
            f"deserialize backend context from engine from file :{want} failed, try rebuild")
    log("engine-refused", path=want, reason=reason)
    return None


def build_failed(requested, *errors):
    for e in (*errors, "failed to build network."):
        print(f"ERROR: {e}", flush=True)
    nvinfer("ERROR", "Error in NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2141>",
            "build engine file failed")
    log("engine-rebuild-failed", requested=requested)
    error("<main:716>: Failed to set pipeline to PAUSED")
    fail()


def rebuilt_engine_path(p, onnx, batch, precision, custom_create):
    """Where nvinfer writes an engine it built: the working directory when the custom
    library builds it, else beside the ONNX (NVIDIA-FACTS.md, nvdsinfer_model_builder.cpp)."""
    gpu = p.get("gpu-id", "0")
    if custom_create:
        return os.path.join(os.getcwd(), f"model_b{batch}_gpu{gpu}_{precision}.engine")
    device = f"dla{p.get('use-dla-core', '0')}" if p.get("enable-dla") == "1" else f"gpu{gpu}"
    return f"{os.path.realpath(onnx)}_b{batch}_{device}_{precision}.engine"


def rebuild(p, base, onnx, requested, batch, precision, prof, handle, lib):
    nvinfer("INFO", "Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2138>",
            "Trying to create engine from model files")
    create = p.get("engine-create-func-name")
    if handle is not None and create and not has_symbol(handle, create):
        print(f"ERROR: Could not find Custom Engine Creation Function '{create}' in custom lib "
              f"{lib}", flush=True)  # wording not verified against DeepStream's source
        build_failed(requested, "failed to build network since there is no model file matched.")
    custom_create = handle is not None and (bool(create) or has_symbol(handle, "NvDsInferCudaEngineGet"))
    if not onnx or not os.path.isfile(onnx):
        build_failed(requested, "failed to build network since there is no model file matched.")
    try:
        refusal = engine.opset_refusal(onnx, prof)
    except ValueError:
        refusal = f"ModelImporter.cpp:726: Failed to parse ONNX model from file: {onnx}"
    if refusal:
        build_failed(requested, f"[TRT]: {refusal}", "Failed to parse onnx file",
                     "failed to build network since parsing model errors.")
    time.sleep(max(0.0, engine.setting("trtexec-build-seconds", 0.0)))
    header = {"tensorrt": prof["tensorrt"], "compute": prof["compute"], "model": prof["model"],
              "precision": precision, "int8_kernels": precision == "int8", "fp16": precision != "fp32",
              "batch": {"min": batch, "opt": batch, "max": batch},
              "onnx_sha256": engine.sha256(onnx), "built_by": "nvinfer", "built_at": time.time()}
    out = rebuilt_engine_path(p, onnx, batch, precision, custom_create)
    try:
        engine.write(out, header)
        nvinfer("INFO", "Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2171>",
                f"serialize cuda engine to file: {out} successfully")
        written = out
    except OSError:
        nvinfer("WARN", "Warning from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2176>",
                f"failed to serialize cude engine to file: {out}")
        written = None
    log("engine-rebuild", requested=requested, written=written, path=out, precision=precision,
        header=header)
    return header


# --- playing ---------------------------------------------------------------------------------


def run(app, sources, started, prof):
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append("INT"))  # SIGTERM keeps its default: death
    a = app.get("application", {})
    interval = float(a.get("perf-measurement-interval-sec", "5"))
    perf = a.get("enable-perf-measurement", "0") == "1"
    file_loop = app.get("tests", {}).get("file-loop", "0") == "1"
    header = started.get("engine") or {}
    precision = header.get("precision")
    if precision == "int8" and not header.get("int8_kernels", True):  # no INT8 kernels on this GPU
        precision = "fp16" if header.get("fp16") else "fp32"
    speed = PRECISION_SPEEDUP.get(precision, 1.0)
    fps = engine.setting("deepstream-fps", 0.0) or (
        BASE_FPS.get(prof["compute"], 30.0) * speed / max(1, len(sources)))
    stream_seconds = engine.setting("stream-seconds", 60.0)
    up = [s["kind"] != "rtsp" or rtsp_reachable(s["uri"]) for s in sources]
    for i, (s, ok) in enumerate(zip(sources, up)):
        if not ok:
            print(f"WARNING from src_elem{i}: Could not open resource for reading and writing.", flush=True)
            log("source-unreachable", source=i, uri=s["uri"])
    print("\nRunning...\n", flush=True)
    log("running", streams=len(sources), fps=fps, sources_up=up)
    ends_at = (time.monotonic() + stream_seconds
               if not file_loop and all(s["kind"] == "file" for s in sources) else None)
    avg, rows, n, next_perf = [0.0] * len(sources), 0, 0, time.monotonic() + interval
    next_check = time.monotonic() + 1.0
    attempts = [0] * len(sources)
    while not stop:
        time.sleep(0.05)
        now = time.monotonic()
        if os.path.exists(CRASH_FLAG) and now - T0 > 1.0:
            print("ERROR from primary_gie: Internal data stream error.", flush=True)
            error("<bus_callback:225>: ERROR from primary_gie: Internal data stream error.")
            log("crash")
            print("Quitting\nApp run failed", flush=True)
            return exit_with(FAILED, "crash")
        if ends_at is not None and now >= ends_at:
            print("** INFO: <bus_callback:291>: Received EOS. Exiting ...\n", flush=True)
            log("eos")
            break
        if now >= next_check:
            next_check = now + 1.0
            recheck_sources(sources, up, attempts)
        if perf and now >= next_perf:
            n += 1
            values = []
            for i in range(len(sources)):
                cur = fps * random.uniform(0.97, 1.03) if up[i] else 0.0
                avg[i] += (cur - avg[i]) / n
                values.append(f"{cur:.2f} ({avg[i]:.2f})\t")
            if rows % PERF_HEADER_EVERY == 0:
                print("\n**PERF:  " + "".join(f"FPS {i} (Avg)\t" for i in range(len(sources))), flush=True)
            print("**PERF:  " + "".join(values), flush=True)
            if rows == 0:
                log("perf-started", fps=[float(v.split()[0]) for v in values])
            rows += 1
            next_perf += interval
    print("Quitting\nApp run successful", flush=True)
    return exit_with(0, "sigint" if stop else "eos")


def recheck_sources(sources, up, attempts):
    """RTSP sources: a lost camera gives no frames (FPS 0) and reconnect warnings every
    rtsp-reconnect-interval-sec; a camera back gives frames again."""
    for i, s in enumerate(sources):
        if s["kind"] != "rtsp":
            continue
        since = s.get("down_since")
        ok = rtsp_reachable(s["uri"], timeout=0.5)
        if ok and not up[i]:
            print(f"** INFO: <reset_source_pipeline:1512>: Resetting source {i}", flush=True)
            log("source-reconnected", source=i)
            s["down_since"] = None
        if not ok:
            if up[i]:
                log("source-lost", source=i)
            if up[i] or since is None:
                s["down_since"] = time.monotonic()
            elif s["reconnect"] > 0 and time.monotonic() - since >= s["reconnect"]:
                if s["attempts"] == -1 or attempts[i] < s["attempts"]:
                    attempts[i] += 1
                    print(f"** WARN: <watch_source_status:{713}>: No data from source {i} since last "
                          f"{int(time.monotonic() - since)} sec. Trying reconnection", flush=True)
                    log("source-reconnect", source=i, attempt=attempts[i])
                    s["down_since"] = time.monotonic()
                elif attempts[i] == s["attempts"]:
                    attempts[i] += 1
                    print(f"WARNING from src_bin{i}: Number of RTSP reconnect attempts exceeded, "
                          f"stopping source: {i}", flush=True)
        up[i] = ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
