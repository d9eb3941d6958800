#!/usr/bin/python3
"""deepstream-app STAND-IN of the y7deploy lab: a test double, not NVIDIA DeepStream.

`deepstream-app -c APP_CONFIG` reads the app config and the nvinfer config as GLib key
files, checks required keys and that referenced files exist (relative paths against the
config file's directory), refuses an engine built for another TensorRT version or GPU
with TensorRT's own error text and then rebuilds it from the ONNX as nvinfer does
(logged to /var/log/deepstream-standin.log), checks num-detected-classes against the
labels file, then prints `**PERF:` lines every perf-measurement-interval-sec until
SIGTERM/SIGINT. Lab knobs in /etc/y7deploy-lab: deepstream-fps (override FPS),
faults/app-crash (exit non-zero about a second after start).
"""

import os
import random
import signal
import sys
import time

sys.path.insert(0, "/usr/lib/y7deploy-lab")
import engine  # noqa: E402

LOG = "/var/log/deepstream-standin.log"
CRASH_FLAG = "/etc/y7deploy-lab/faults/app-crash"
BASE_FPS = {"5.3": 24.0, "7.2": 60.0, "8.7": 110.0}
PRECISION_SPEEDUP = {"fp32": 1.0, "fp16": 1.8, "int8": 2.6}
NETWORK_MODE = {"0": "fp32", "1": "int8", "2": "fp16"}
T0 = time.monotonic()


class KeyFileError(Exception):
    pass


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


def resolve(base_dir, value):
    value = value.strip().strip('"')
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base_dir, value))


def version_all(prof):
    cudnn = ".".join(prof["cudnn"].split(".")[:2])
    print(f"deepstream-app version {prof['deepstream']}\nDeepStreamSDK {prof['deepstream']}\n"
          f"CUDA Driver Version: {prof['cuda_short']}\nCUDA Runtime Version: {prof['cuda_short']}\n"
          f"TensorRT Version: {prof['trt_short']}\ncuDNN Version: {cudnn}\n"
          "libNVWarp360 Version: 2.0.1d3")


def main(argv):
    prof = engine.profile()
    if "--version-all" in argv or "--version" in argv or "-v" in argv:
        version_all(prof)
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
        return 255
    config = os.path.abspath(config)
    try:
        app = parse_key_file(config)
    except (OSError, KeyFileError, UnicodeDecodeError) as exc:
        error(f"<parse_config_file:{613}>: Failed to parse config file '{config}': {exc}")
        error(f"<main:658>: Failed to parse config file '{config}'")
        print("Quitting\nApp run failed")
        return 255
    app_dir = os.path.dirname(config)
    started = run_checks(app, app_dir, prof)
    if isinstance(started, int):
        print("Quitting\nApp run failed", flush=True)
        return started
    return run(app, started, prof)


def run_checks(app, app_dir, prof):
    """Everything deepstream-app and nvinfer check before PLAYING; an exit code on failure."""
    sources = [g for g in app if g.startswith("source") and app[g].get("enable", "0") == "1"]
    if not sources:
        error("<create_multi_source_bin:1523>: No sources enabled")
        return 255
    for g in sources:
        uri = app[g].get("uri", "")
        if app[g].get("type") in ("2", "3") and uri.startswith("file://"):
            if not os.path.exists(resolve(app_dir, uri[len("file://"):])):
                error(f"<bus_callback:225>: ERROR from src_elem: Resource not found.")
                return 1
    if not any(g.startswith("sink") and app[g].get("enable", "0") == "1" for g in app):
        error("<create_pipeline:1371>: No sinks enabled")  # stand-in wording
        return 255
    gie = app.get("primary-gie", {})
    if gie.get("enable") != "1":
        return {"engine": None}
    if "config-file" not in gie:
        error("<parse_gie:1164>: config-file not specified for primary-gie")
        return 255
    infer_path = resolve(app_dir, gie["config-file"])
    try:
        infer = parse_key_file(infer_path).get("property", {})
    except (OSError, KeyFileError) as exc:
        error(f"<parse_gie:1180>: Failed to parse nvinfer config '{infer_path}': {exc}")
        return 255
    base = os.path.dirname(infer_path)
    # Keys given in [primary-gie] override the nvinfer file's (paths relative to the app config).
    for key in ("model-engine-file", "labelfile-path"):
        if key in gie:
            infer[key] = resolve(app_dir, gie[key])
    gie_batch = gie.get("batch-size")
    return nvinfer_start(infer, base, int(gie_batch or infer.get("batch-size", "1")), prof)


def nvinfer_start(p, base, batch, prof):
    for key in ("labelfile-path", "num-detected-classes"):
        if p.get("network-type", "0") == "0" and key not in p:
            print(f"Error. '{key}' is required for detectors", flush=True)  # stand-in wording
            error("<primary_gie:create>: Failed to create 'primary_gie'")
            return 255
    labels = resolve(base, p["labelfile-path"])
    if not os.path.isfile(labels):
        print(f"Could not open labels file:{labels}", flush=True)
        error("<main:716>: Failed to set pipeline to PAUSED")
        return 255
    with open(labels) as f:
        names = [l.strip() for l in f if l.strip()]
    classes = int(p["num-detected-classes"])
    if len(names) != classes:
        print(f"WARNING: Num classes mismatch. Configured: {classes}, labels file "
              f"{labels} has {len(names)}", flush=True)
        error("<main:716>: Failed to set pipeline to PAUSED (num-detected-classes does not "
              "match the labels file)")
        engine.log_event(LOG, {"event": "labels-mismatch", "configured": classes,
                               "labels": len(names)})
        return 255
    lib = p.get("custom-lib-path")
    if lib:
        lib = resolve(base, lib)
        try:
            with open(lib, "rb") as f:
                magic = f.read(4)
        except OSError as exc:
            print(f"ERROR: Could not open lib: {lib}, error string: {lib}: cannot open shared "
                  f"object file: {exc.strerror}", flush=True)
            nvinfer("ERROR", "Error in NvDsInferContextImpl::initialize() <nvdsinfer_context_impl.cpp:1299>",
                    "Failed to initialize custom library")
            return 1
        if magic != b"\x7fELF":
            print(f"ERROR: Could not open lib: {lib}, error string: {lib}: invalid ELF header",
                  flush=True)
            return 1
    precision = NETWORK_MODE.get(p.get("network-mode", "0"), "fp32")
    onnx = resolve(base, p["onnx-file"]) if p.get("onnx-file") else None
    want = resolve(base, p["model-engine-file"]) if p.get("model-engine-file") else None
    header = None
    if want:
        if not os.path.isfile(want):
            print(f"WARNING: Deserialize engine failed because file path: {want} open error",
                  flush=True)
        else:
            header = engine.read(want)
            errors = engine.incompatibility(header, prof)
            if not errors and header["batch"]["max"] < batch:
                errors = [f"Backend has maxBatchSize {header['batch']['max']} whereas {batch} "
                          "has been requested"]
            if errors:
                for e in errors:
                    print(f"ERROR: [TRT]: {e}", flush=True)
                print(f"ERROR: Deserialize engine failed from file: {want}", flush=True)
                header = None
            else:
                nvinfer("INFO", "Info from NvDsInferContextImpl::deserializeEngineAndBackend() "
                        "<nvdsinfer_context_impl.cpp:2092>", f"deserialized trt engine from :{want}")
                engine.log_event(LOG, {"event": "engine-loaded", "path": want, "header": header})
        if header is None:
            nvinfer("WARN", "Warning from NvDsInferContextImpl::deserializeEngineAndBackend() "
                    "<nvdsinfer_context_impl.cpp:2080>", f"deserialize engine from file :{want} failed")
            nvinfer("WARN", "Warning from NvDsInferContextImpl::generateBackendContext() "
                    "<nvdsinfer_context_impl.cpp:2185>",
                    f"deserialize backend context from engine from file :{want} failed, try rebuild")
    if header is None:
        header = rebuild(p, base, onnx, want, batch, precision, prof)
        if header is None:
            return 1
    return {"engine": header}


def build_failed(requested, *errors):
    for e in (*errors, "failed to build network."):
        print(f"ERROR: {e}", flush=True)
    nvinfer("ERROR", "Error in NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2141>",
            "build engine file failed")
    engine.log_event(LOG, {"event": "engine-rebuild-failed", "requested": requested})
    return None


def rebuild(p, base, onnx, requested, batch, precision, prof):
    nvinfer("INFO", "Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2138>",
            "Trying to create engine from model files")
    if not onnx or not os.path.isfile(onnx):
        return build_failed(requested, "failed to build network since there is no model file matched.")
    try:
        refusal = engine.opset_refusal(onnx, prof)
    except ValueError:
        refusal = f"ModelImporter.cpp:726: Failed to parse ONNX model from file: {onnx}"
    if refusal:
        return build_failed(requested, f"[TRT]: {refusal}", "Failed to parse onnx file",
                            "failed to build network since parsing model errors.")
    time.sleep(max(0.0, engine.setting("trtexec-build-seconds", 0.0)))
    header = {"tensorrt": prof["tensorrt"], "compute": prof["compute"], "precision": precision,
              "batch": {"min": batch, "opt": batch, "max": batch},
              "onnx_sha256": engine.sha256(onnx), "built_by": "nvinfer", "built_at": time.time()}
    if prof["deepstream"].startswith("6.0"):
        out = os.path.join(os.getcwd(), f"model_b{batch}_gpu0_{precision}.engine")
    else:
        out = f"{onnx}_b{batch}_gpu{p.get('gpu-id', '0')}_{precision}.engine"
    try:
        engine.write(out, header)
        nvinfer("INFO", "Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2171>",
                f"serialize cuda engine to file: {out} successfully")
    except OSError:
        print(f"WARNING: failed to serialize cude engine to file: {out}", flush=True)
        out = None
    engine.log_event(LOG, {"event": "engine-rebuild", "requested": requested, "written": out,
                           "header": header})
    return header


def run(app, started, prof):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append("TERM"))
    signal.signal(signal.SIGINT, lambda *_: stop.append("INT"))
    a = app.get("application", {})
    interval = float(a.get("perf-measurement-interval-sec", "5"))
    perf = a.get("enable-perf-measurement", "0") == "1"
    streams = sum(int(app[g].get("num-sources", "1")) for g in app
                  if g.startswith("source") and app[g].get("enable") == "1")
    header = started.get("engine") or {}
    fps = engine.setting("deepstream-fps", 0.0) or (  # per stream
        BASE_FPS.get(prof["compute"], 30.0) * PRECISION_SPEEDUP.get(header.get("precision"), 1.0)
        / max(1, streams))
    print("\nRunning...\n", flush=True)
    engine.log_event(LOG, {"event": "running", "streams": streams, "fps": fps})
    avg, n, next_perf = 0.0, 0, time.monotonic() + interval
    while not stop:
        time.sleep(0.1)
        if os.path.exists(CRASH_FLAG) and time.monotonic() - T0 > 1.0:
            print("ERROR from primary_gie: Internal data stream error.", flush=True)
            error("<bus_callback:225>: ERROR from primary_gie: Internal data stream error.")
            engine.log_event(LOG, {"event": "crash"})
            print("Quitting\nApp run failed", flush=True)
            return 1
        if perf and time.monotonic() >= next_perf:
            now = fps * random.uniform(0.97, 1.03)
            n += 1
            avg += (now - avg) / n
            if n == 1:
                print("\n**PERF:  " + "".join(f"FPS {i} (Avg)\t" for i in range(streams)), flush=True)
            print("**PERF:  " + "".join(f"{now:.2f} ({avg:.2f})\t" for _ in range(streams)), flush=True)
            next_perf += interval
    print("Quitting\nApp run successful", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
