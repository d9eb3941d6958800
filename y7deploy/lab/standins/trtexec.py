#!/usr/bin/python3
"""trtexec STAND-IN of the y7deploy lab: a test double, not NVIDIA's TensorRT.

It takes exactly the options its TensorRT release's sampleOptions.cpp reads
(trtexec_flags.py), with that release's deprecation warnings and errors; refuses
missing or non-ONNX models, models of an ONNX opset newer than its parser documents
(engine.MAX_OPSET), shape flags on a static model and DLA cores the module lacks; reads
and writes --timingCacheFile; and writes a stand-in engine whose header records
TensorRT version, GPU model and compute capability, precision, batch profile and the
ONNX's sha256. Build time: /etc/y7deploy-lab/trtexec-build-seconds. Every call is
logged as a JSON line to /var/log/trtexec-standin.log.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, "/usr/lib/y7deploy-lab")
import engine  # noqa: E402
from trtexec_flags import flags_for  # noqa: E402

LOG = "/var/log/trtexec-standin.log"
POOLS = {"workspace", "dlaSRAM", "dlaLocalDRAM", "dlaGlobalDRAM"}
CACHE_MAGIC = "Y7LAB-TIMING-CACHE 1"
CACHE_SPEEDUP = 0.25  # a build whose tactics are all in the timing cache takes this share


def say(level, msg):
    print(f"[{engine.stamp()}] [{level}] {msg}", flush=True)


def parse(argv, known):
    """argsToArgumentsMap then the options' parse: "--key=value" or "--key"; what no
    option takes is left over, as (key, value), in the order given."""
    opts, unknown = {}, []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if key in known:
            opts[key.lstrip("-")] = value if eq else ""
        else:
            unknown.append((key, value))
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
    tag = f"[TensorRT {engine.trt_tag(version)}]"
    cmdline = " ".join(["/usr/src/tensorrt/bin/trtexec", *argv])
    result = {"argv": argv, "cwd": os.getcwd(), "tensorrt": version, "result": "fail"}
    help_text = ("=== Model Options ===\n  --onnx=<file>  ONNX model\n"
                 f"(y7deploy lab stand-in of trtexec {version}: full help omitted)")

    def fail(*errors):
        for e in errors:
            say("E", e)
        print(f"&&&& FAILED TensorRT.trtexec {tag} # {cmdline}", flush=True)
        return 1

    print(f"&&&& RUNNING TensorRT.trtexec {tag} # {cmdline}", flush=True)
    try:
        if "--help" in argv or "-h" in argv:  # parseHelp: help, exit 0, no PASSED line
            print(help_text)
            result["result"] = "help"
            return 0
        opts, unknown = parse(argv, flags_for(version))
        if not argv:
            print(help_text)
            result["result"] = "help"
            print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}")
            return 0
        if unknown:
            errors = [f"Unknown option: {n} {v}" for n, v in unknown]
            if major >= 10:  # 10.x prints the help first, 8.x after the errors
                print(help_text)
                return fail(*errors)
            for e in errors:
                say("E", e)
            print(help_text)
            return fail()
        try:
            warn_deprecated(opts, major, minor)
            if "loadEngine" in opts and "saveEngine" in opts:
                raise ValueError("Incompatible load and save engine options selected")
            pools = {"workspace": float(opts["workspace"])} if opts.get("workspace") else {}
            if "memPoolSize" in opts:
                pools.update(parse_pools(opts["memPoolSize"], major))
            shapes = shape_options(opts, major)
        except ValueError as exc:
            print(help_text)
            return fail(str(exc))
        say("I", "Memory Pools: " + ", ".join(
            f"{p}: {pools[p]:g} MiB" if p in pools else f"{p}: default"
            for p in ("workspace", "dlaSRAM", "dlaLocalDRAM", "dlaGlobalDRAM")))
        if "loadEngine" in opts:
            return load(opts["loadEngine"], prof, tag, cmdline, result)
        if "onnx" not in opts:
            return fail("Model missing or format not recognized")
        return build(opts, shapes, prof, tag, cmdline, result, fail, major)
    finally:
        engine.log_event(LOG, result)


def warn_deprecated(opts, major, minor):
    """The deprecation warnings sampleOptions.cpp prints (8.2 and 8.5; 10.3 has none of these)."""
    if major >= 10:
        return
    if "explicitBatch" in opts:
        say("W", "--explicitBatch flag has been deprecated and has no effect!")
        say("W", "Explicit batch dim is automatically enabled if input model is ONNX or if dynamic "
                 "shapes are provided when the engine is built.")
    if "workspace" in opts and (major, minor) >= (8, 4):
        say("W", "--workspace flag has been deprecated by --memPoolSize flag.")


def shape_options(opts, major):
    """{"min"|"opt"|"max": {tensor: dims}} from the shape flags, as processShapes does:
    8.x takes --optShapes alone or all three; 10.x fills a missing one from the others."""
    given = {k: parse_shapes(opts[f"{k}Shapes"]) for k in ("min", "opt", "max") if f"{k}Shapes" in opts}
    if not given and "shapes" in opts:
        given = {k: parse_shapes(opts["shapes"]) for k in ("min", "opt", "max")}
    if not given:
        return {}
    if major < 10:
        if set(given) not in ({"opt"}, {"min", "opt", "max"}):
            raise ValueError("Must specify only --optShapes or all of --minShapes, --optShapes, --maxShapes")
    for k in ("min", "opt", "max"):
        if k not in given:
            given[k] = given.get("opt") or given.get("min") or given.get("max")
    return given


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
    warning = engine.cross_model_warning(header, prof)
    if warning:
        say("W", f"[TRT] {warning}")
    result.update(result="loaded", engine=path, header=header, cross_model=bool(warning))
    print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}")
    return 0


def build(opts, shapes, prof, tag, cmdline, result, fail, major):
    onnx = opts["onnx"]
    no_engine = "Failed to create engine from model or file." if major >= 10 else "Failed to create engine from model."
    say("I", "=== Model Options ===")
    say("I", "Format: ONNX")
    say("I", f"Model: {onnx}")
    say("I", f"TensorRT version: {'.'.join(prof['tensorrt'].split('.')[:3])}")
    if not os.path.isfile(onnx):
        print(f"Could not open file {onnx}\nCould not open file {onnx}", flush=True)
        return fail(f"[TRT] ModelImporter.cpp:688: Failed to parse ONNX model from file: {onnx}",
                    "Failed to parse onnx file", "Parsing model failed", no_engine, "Engine set up failed")
    try:
        inputs = engine.onnx_inputs(onnx)
    except ValueError:
        return fail("[TRT] ModelImporter.cpp:726: ERROR: ModelImporter.cpp:"
                    f"Failed to parse ONNX model from file: {onnx}",
                    "Failed to parse onnx file", "Parsing model failed", no_engine, "Engine set up failed")
    say("I", f"[TRT] Opset version:    {engine.onnx_opset(onnx)}")
    too_new = engine.opset_refusal(onnx, prof)
    if too_new:
        return fail(f"[TRT] {too_new}", "Failed to parse onnx file", "Parsing model failed", no_engine,
                    "Engine set up failed")
    batch = batch_profile(inputs, shapes)
    if isinstance(batch, str):
        return fail(batch, no_engine, "Engine set up failed")
    dla = int(opts["useDLACore"]) if opts.get("useDLACore", "") not in ("", "-1") else None
    if dla is not None and not 0 <= dla < int(prof.get("dla_cores", 0)):
        return fail(f"Cannot create DLA engine, {dla} not available", no_engine, "Engine set up failed")
    int8 = "int8" in opts or "best" in opts
    precision = "int8" if int8 else "fp16" if "fp16" in opts else "fp32"
    if "int8" in opts and "fp16" not in opts and "best" not in opts:
        say("I", "FP32 and INT8 precisions have been specified - more performance might be enabled by "
                 "additionally specifying --fp16 or --best")
    if "int8" in opts and not opts.get("calib"):
        say("W", "[TRT] Calibrator is not being used. Users must provide dynamic range for all "
                 "tensors that are not Int32 or Bool.")
    header = {
        "tensorrt": prof["tensorrt"], "compute": prof["compute"], "model": prof["model"],
        "precision": precision, "batch": batch, "onnx_sha256": engine.sha256(onnx), "inputs": inputs,
        # The builder takes INT8 kernels only where the GPU has them (no check in trtexec itself).
        "int8_kernels": int8 and engine.fast_int8(prof), "fp16": "fp16" in opts or "best" in opts,
        "dla_core": dla,
        "built_by": "trtexec", "built_at": time.time(),
    }
    cache_key = {k: header[k] for k in ("tensorrt", "compute", "model", "precision")}
    cache = opts.get("timingCacheFile") if "timingCacheFile" in opts and "noBuilderCache" not in opts else None
    hit = load_timing_cache(cache, cache_key) if cache else False
    seconds = engine.setting("trtexec-build-seconds", 0.0) * (CACHE_SPEEDUP if hit else 1.0)
    started = time.monotonic()
    time.sleep(max(0.0, seconds))
    say("I", f"Engine built in {time.monotonic() - started:.3f} sec.")
    if cache:
        result["timing_cache"] = {"path": cache, "hit": hit, "saved": save_timing_cache(cache, cache_key)}
    if opts.get("saveEngine"):
        try:
            engine.write(opts["saveEngine"], header)
        except OSError:  # getEngineBuildEnv: only the stream's fail bit, no reason
            return fail("Saving engine to file failed.", "Engine set up failed")
        say("I", f"Saving engine to file: {opts['saveEngine']}")
    result.update(result="built", engine=opts.get("saveEngine"), header=header)
    print(f"&&&& PASSED TensorRT.trtexec {tag} # {cmdline}", flush=True)
    return 0


def load_timing_cache(path, key):
    """Read the cache as sampleUtils' loadTimingCacheFile does; True when it holds this
    build's key (same device model, TensorRT and precision), so the build reuses it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        say("W", f"Could not read timing cache from: {path}. A new timing cache will be generated and written.")
        return False
    say("I", f"Loaded {len(data)} bytes of timing cache from {path}")
    try:
        magic, body = data.decode().split("\n", 1)
        entries = json.loads(body) if magic == CACHE_MAGIC else []
    except ValueError:
        entries = []
    return key in entries


def save_timing_cache(path, key):
    """Merge this build's key into the cache file; the bytes written, or 0 when it can't."""
    entries = []
    try:
        with open(path, "rb") as f:
            magic, body = f.read().decode().split("\n", 1)
        entries = json.loads(body) if magic == CACHE_MAGIC else []
    except (OSError, ValueError):
        pass
    if key not in entries:
        entries.append(key)
    data = (CACHE_MAGIC + "\n" + json.dumps(entries, sort_keys=True)).encode()
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError:
        say("W", f"Could not write timing cache to: {path}")
        return 0
    say("I", f"Saved {len(data)} bytes of timing cache to {path}")
    return len(data)


def batch_profile(inputs, shapes):
    """{"min","opt","max"} batch sizes from the model's static shape or the shape flags,
    or the error text sampleEngines.cpp gives."""
    name, dims = inputs[0] if inputs else ("input", [1])
    dynamic = any(isinstance(d, str) for d in dims)
    if not dynamic:
        if shapes:
            return ("Static model does not take explicit shapes since the shape of inference tensors "
                    "will be determined by the model itself")
        n = dims[0] if dims else 1
        return {"min": n, "opt": n, "max": n}
    if not shapes:
        fixed = "x".join(str(1 if isinstance(d, str) else d) for d in dims)
        say("W", f"Dynamic dimensions required for input: {name}, but no shapes were provided. "
                 f"Automatically overriding shape to: {fixed}")
        return {"min": 1, "opt": 1, "max": 1}
    try:
        b = {k: shapes[k][name][0] for k in ("min", "opt", "max")}
    except (KeyError, IndexError):
        return f"Input shapes for {name} must be given for min, opt and max"
    if not b["min"] <= b["opt"] <= b["max"]:
        return (f"[TRT] 4: [network.cpp::validate::3017] Error Code 4: Internal Error "
                f"({name}: minimum dimensions in profile 0 are larger than maximum dimensions)")
    return b


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
