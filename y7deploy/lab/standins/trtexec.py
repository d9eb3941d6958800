#!/usr/bin/python3
"""trtexec STAND-IN of the y7deploy lab: a test double, not NVIDIA's TensorRT.

It takes trtexec's flags as the TensorRT version of this simulated Jetson does
(--workspace is gone in TensorRT 10, --memPoolSize does not exist in 8.2), refuses
missing or non-ONNX models with trtexec's messages and models of an ONNX opset newer than
its parser documents (see engine.MAX_OPSET), and writes a stand-in engine whose
header records TensorRT version, compute capability, precision, batch profile and the
ONNX's sha256. Build time: /etc/y7deploy-lab/trtexec-build-seconds. Every call is
logged as a JSON line to /var/log/trtexec-standin.log.
"""

import os
import re
import sys
import time

sys.path.insert(0, "/usr/lib/y7deploy-lab")
import engine  # noqa: E402

LOG = "/var/log/trtexec-standin.log"
POOLS = {"workspace", "dlaSRAM", "dlaLocalDRAM", "dlaGlobalDRAM"}
COMMON = {
    "onnx", "saveEngine", "loadEngine", "fp16", "int8", "best", "noTF32", "calib", "shapes",
    "minShapes", "optShapes", "maxShapes", "inputIOFormats", "outputIOFormats", "device",
    "useDLACore", "allowGPUFallback", "timingCacheFile", "verbose", "iterations", "duration",
    "warmUp", "avgRuns", "useCudaGraph", "noDataTransfers", "separateProfileRun", "dumpProfile",
    "exportProfile", "exportTimes", "exportOutput", "exportLayerInfo", "profilingVerbosity",
    "plugins", "sparsity", "skipInference", "layerPrecisions", "tacticSources", "streams",
    "threads", "useSpinWait", "help", "h",
}
BY_MAJOR_MINOR = {
    (8, 2): COMMON | {"workspace", "explicitBatch", "maxBatch", "minTiming", "avgTiming", "buildOnly"},
    (8, 5): COMMON | {"workspace", "memPoolSize", "explicitBatch", "maxBatch", "minTiming",
                      "avgTiming", "buildOnly", "precisionConstraints", "preview"},
    (10, 3): COMMON | {"memPoolSize", "explicitBatch", "stronglyTyped", "builderOptimizationLevel",
                       "versionCompatible", "hardwareCompatibilityLevel", "precisionConstraints",
                       "avgTiming", "preview", "tacticSharedMem"},
}

def say(level, msg):
    print(f"[{engine.stamp()}] [{level}] {msg}", flush=True)


def parse(argv, known):
    opts, unknown = {}, []
    for arg in argv:
        m = re.match(r"^--?([A-Za-z][A-Za-z0-9]*)(?:=(.*))?$", arg)
        if not m or m.group(1) not in known:
            name, _, value = arg.partition("=")
            unknown.append((name, value))
            continue
        opts[m.group(1)] = m.group(2) if m.group(2) is not None else ""
    return opts, unknown


def parse_shapes(spec):
    shapes = {}
    for part in filter(None, spec.split(",")):
        name, _, dims = part.rpartition(":")
        shapes[name.strip("'\"")] = [int(d) for d in dims.split("x")]
    return shapes


def parse_pools(spec, trt_major):
    """--memPoolSize=pool:size,... in MiB -> {pool: MiB}. TensorRT 10 takes B/K/M/G
    suffixes; 8.x reads the size with std::stod, which stops at the first non-digit (so
    "2G" is 2 MiB there) and throws "stod" when there is no number at all."""
    pools = POOLS | ({"tacticSharedMem"} if trt_major >= 10 else set())
    scale = {"": 1.0, "B": 1 / 2**20, "K": 1 / 1024, "M": 1.0, "G": 1024.0}
    out = {}
    for part in filter(None, spec.split(",")):
        name, _, size = part.rpartition(":")
        if trt_major >= 10:
            m = re.match(r"^(-?[0-9.]+)([BKMG]?)$", size)
        else:
            m = re.match(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)()", size)
        if not m:
            raise ValueError("stod")
        mib = float(m.group(1)) * scale[m.group(2)]
        if mib < 0:
            raise ValueError(f"Negative memory pool size: {mib:f}")
        if name not in pools:
            raise ValueError(f"Unknown memory pool: {name}")
        out[name] = mib
    return out


def main(argv):
    prof = engine.profile()
    version = prof["tensorrt"]
    major, minor = (int(x) for x in version.split(".")[:2])
    known = BY_MAJOR_MINOR.get((major, minor)) or BY_MAJOR_MINOR[(10, 3) if major >= 10 else (8, 5)]
    tag = f"[TensorRT {engine.trt_tag(version)}]"
    cmdline = " ".join(["/usr/src/tensorrt/bin/trtexec", *argv])
    result = {"argv": argv, "cwd": os.getcwd(), "tensorrt": version, "result": "fail"}

    def fail(*errors):
        for e in errors:
            say("E", e)
        print(f"&&&& FAILED TensorRT.trtexec {tag} # {cmdline}", flush=True)
        return 1

    print(f"&&&& RUNNING TensorRT.trtexec {tag} # {cmdline}", flush=True)
    try:
        opts, unknown = parse(argv, known)
        if unknown:
            print("=== Model Options ===\n  --onnx=<file>  ONNX model\n(stand-in: full help omitted)")
            return fail(*[f"Unknown option: {n} {v}".rstrip() for n, v in unknown])
        if "help" in opts or "h" in opts or not argv:
            print("trtexec stand-in of the y7deploy lab (a test double, not NVIDIA TensorRT).\n"
                  "Flags follow TensorRT " + version + "; see /usr/lib/y7deploy-lab/README.")
            result["result"] = "help"
            print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}")
            return 0
        if "workspace" in opts and (major, minor) >= (8, 4):
            say("W", "--workspace flag has been deprecated by --memPoolSize flag.")
        if "explicitBatch" in opts and (major, minor) >= (8, 4):
            say("W", "--explicitBatch flag has been deprecated and has no effect!")
            say("W", "Explicit batch dim is automatically enabled if input model is ONNX or if "
                     "dynamic shapes are provided when the engine is built.")
        if "buildOnly" in opts and (major, minor) >= (8, 5):
            say("W", "--buildOnly flag has been deprecated by --skipInference flag.")
        if "loadEngine" in opts and "saveEngine" in opts:
            return fail("Incompatible load and save engine options selected")
        pools = {"workspace": float(opts["workspace"])} if opts.get("workspace") else {}
        if "memPoolSize" in opts:
            try:
                pools.update(parse_pools(opts["memPoolSize"], major))
            except ValueError as exc:
                return fail(str(exc))
        say("I", "Memory Pools: " + ", ".join(
            f"{p}: {pools[p]:g} MiB" if p in pools else f"{p}: default"
            for p in ("workspace", "dlaSRAM", "dlaLocalDRAM", "dlaGlobalDRAM")))
        if "loadEngine" in opts:
            return load(opts["loadEngine"], prof, tag, cmdline, result)
        if "onnx" not in opts:
            return fail("Model missing or format not recognized")
        return build(opts, prof, tag, cmdline, result, fail)
    finally:
        engine.log_event(LOG, result)


def load(path, prof, tag, cmdline, result):
    say("I", f"Loading engine from {path}")
    try:
        header = engine.read(path)
    except OSError:
        say("E", f"Error opening engine file: {path}")
        say("E", "Engine set up failed")
        print(f"&&&& FAILED TensorRT.trtexec {tag} # {cmdline}")
        return 1
    errors = engine.incompatibility(header, prof)
    if errors:
        for e in errors:
            say("E", f"Error[{e.split(':')[0]}]: {e.split(': ', 1)[1]}")
        say("E", "Engine deserialization failed")
        say("E", "Engine set up failed")
        print(f"&&&& FAILED TensorRT.trtexec {tag} # {cmdline}")
        return 1
    result.update(result="loaded", engine=path, header=header)
    print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}")
    return 0


def build(opts, prof, tag, cmdline, result, fail):
    onnx = opts["onnx"]
    say("I", "=== Model Options ===")
    say("I", "Format: ONNX")
    say("I", f"Model: {onnx}")
    say("I", f"TensorRT version: {'.'.join(prof['tensorrt'].split('.')[:3])}")
    if not os.path.isfile(onnx):
        print(f"Could not open file {onnx}\nCould not open file {onnx}", flush=True)
        return fail(f"[TRT] ModelImporter.cpp:688: Failed to parse ONNX model from file: {onnx}",
                    "Failed to parse onnx file", "Parsing model failed",
                    "Failed to create engine from model or file.", "Engine set up failed")
    try:
        inputs = engine.onnx_inputs(onnx)
    except ValueError:
        return fail("[TRT] ModelImporter.cpp:726: ERROR: ModelImporter.cpp:"
                    f"Failed to parse ONNX model from file: {onnx}",
                    "Failed to parse onnx file", "Parsing model failed",
                    "Failed to create engine from model or file.", "Engine set up failed")
    say("I", f"[TRT] Opset version:    {engine.onnx_opset(onnx)}")
    too_new = engine.opset_refusal(onnx, prof)
    if too_new:
        return fail(f"[TRT] {too_new}", "Failed to parse onnx file", "Parsing model failed",
                    "Failed to create engine from model or file.", "Engine set up failed")
    precision = "int8" if "int8" in opts or "best" in opts else "fp16" if "fp16" in opts else "fp32"
    if "int8" in opts and not opts.get("calib"):
        say("W", "[TRT] Calibrator is not being used. Users must provide dynamic range for all "
                 "tensors that are not Int32 or Bool.")
    batch = batch_profile(inputs, opts, fail)
    if isinstance(batch, int):
        return batch  # an error code
    seconds = engine.setting("trtexec-build-seconds", 0.0)
    started = time.monotonic()
    time.sleep(max(0.0, seconds))
    header = {
        "tensorrt": prof["tensorrt"], "compute": prof["compute"], "precision": precision,
        "batch": batch, "onnx_sha256": engine.sha256(onnx), "inputs": inputs,
        "built_by": "trtexec", "built_at": time.time(),
    }
    say("I", f"Engine built in {time.monotonic() - started:.3f} sec.")
    if opts.get("saveEngine"):
        try:
            engine.write(opts["saveEngine"], header)
        except OSError as exc:
            return fail(f"Cannot open engine file: {opts['saveEngine']} ({exc.strerror})",
                        "Saving engine to file failed.", "Engine set up failed")
        say("I", f"Saving engine to file: {opts['saveEngine']}")
    result.update(result="built", engine=opts.get("saveEngine"), header=header)
    print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}", flush=True)
    return 0


def batch_profile(inputs, opts, fail):
    """{"min","opt","max"} batch sizes, from the model's static shape or the shape flags."""
    first = inputs[0] if inputs else ("input", [1])
    name, dims = first
    dynamic = any(isinstance(d, str) for d in dims)
    given = {k: parse_shapes(opts[k]) for k in ("minShapes", "optShapes", "maxShapes", "shapes")
             if opts.get(k)}
    if not dynamic:
        if given:
            say("W", "Static model does not take explicit shapes since the shape of inference "
                     "tensors will be determined by the model itself")
        n = dims[0] if dims else 1
        return {"min": n, "opt": n, "max": n}
    if not given:
        fixed = "x".join(str(1 if isinstance(d, str) else d) for d in dims)
        say("W", f"Dynamic dimensions required for input: {name}, but no shapes were provided. "
                 f"Automatically overriding shape to: {fixed}")
        return {"min": 1, "opt": 1, "max": 1}
    if "shapes" in given:
        given = {k: given["shapes"] for k in ("minShapes", "optShapes", "maxShapes")}
    try:
        b = {k[:3]: given[f"{k[:3]}Shapes"][name][0] for k in ("minShapes", "optShapes", "maxShapes")}
    except KeyError:
        return fail(f"Input shapes for {name} must be given for min, opt and max", "Engine set up failed")
    if not b["min"] <= b["opt"] <= b["max"]:
        return fail(f"[TRT] 4: [network.cpp::validate::3017] Error Code 4: Internal Error "
                    f"({name}: minimum dimensions in profile 0 are larger than maximum dimensions)",
                    "Engine set up failed")
    return b


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
