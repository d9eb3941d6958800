"""Shared by the lab's trtexec and deepstream-app stand-ins (test doubles, not NVIDIA code).

A stand-in "engine" is a small file: a magic line, a JSON header recording what a real
TensorRT plan is tied to (TensorRT version, GPU compute capability) and what it was
built from (ONNX sha256, precision, batch profile), then filler bytes.
"""

import datetime
import fcntl
import hashlib
import json
import os
import sys
import time

MAGIC = b"Y7LAB-TRT-PLAN 1\n"
PROFILE_FILE = "/etc/y7deploy-lab/profile.json"
SETTINGS_DIR = "/etc/y7deploy-lab"


def profile():
    with open(PROFILE_FILE) as f:
        return json.load(f)


def setting(name, default):
    """A number from /etc/y7deploy-lab/NAME: how tests tune build time, FPS and so on."""
    try:
        with open(os.path.join(SETTINGS_DIR, name)) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return default


def trt_tag(version):
    """8.2.1.9 -> v8201, 10.3.0.30 -> v100300, as trtexec prints it."""
    major, minor, patch = (int(x) for x in version.split(".")[:3])
    return f"v{major}{minor:02d}{patch:02d}" if major >= 10 else f"v{major}{minor}{patch:02d}"


def stamp():
    return datetime.datetime.now().strftime("%m/%d/%Y-%H:%M:%S")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(path, header):
    """Write a plan as trtexec (sampleEngines.cpp) and nvinfer (serializeEngine) do: one
    std::ofstream on the path itself, no temporary name. The open truncates; a write that
    fails (a full disk) leaves what fitted there, an open that fails leaves nothing."""
    body = json.dumps(header, sort_keys=True).encode()
    filler = hashlib.sha256(body).digest() * 512  # 16 KiB, stands for the plan itself
    data = memoryview(MAGIC + body + b"\n" + filler)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def read(path):
    """The header of an engine file, or None when the file is not a plan at all."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    if not data.startswith(MAGIC):
        return None
    try:
        return json.loads(data[len(MAGIC):].split(b"\n", 1)[0])
    except ValueError:
        return None


def _parts(version, n):
    return ".".join(version.split(".")[:n])


def library_version(version):
    """The library version a plan refusal names: three parts on TensorRT 8.2, four from
    8.5 on (NVIDIA-FACTS.md: "expecting library version 8.2.1 got ..."/"8.5.1.7")."""
    major, minor = (int(x) for x in version.split(".")[:2])
    return _parts(version, 3 if (major, minor) < (8, 5) else 4)


def incompatibility(header, prof):
    """The TensorRT runtime's refusal text for a plan from elsewhere (a list of lines),
    or None when this runtime deserializes it (see cross_model_warning)."""
    if header is None:
        return ["1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization "
                "(Serialization assertion magicTagRead == kMAGIC_TAG failed.Magic tag does not match)",
                "4: [runtime.cpp::deserializeCudaEngine::66] Error Code 4: Internal Error "
                "(Engine deserialization failed.)"]
    mine, theirs = prof["tensorrt"], header.get("tensorrt", "0.0.0.0")
    if _parts(mine, 2) != _parts(theirs, 2):  # another series: another serialization format
        return ["1: [stdArchiveReader.cpp::StdArchiveReader::32] Error Code 1: Serialization "
                "(Serialization assertion stdVersionRead == serializationVersion failed.Version tag does not match)",
                "4: [runtime.cpp::deserializeCudaEngine::66] Error Code 4: Internal Error "
                "(Engine deserialization failed.)"]
    if library_version(mine) != library_version(theirs):
        return [f"6: The engine plan file is not compatible with this version of TensorRT, "
                f"expecting library version {library_version(mine)} got {library_version(theirs)}, please rebuild.",
                "4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error "
                "(Engine deserialization failed.)"]
    if header.get("compute") != prof["compute"]:
        return [f"6: The engine plan file is generated on an incompatible device, expecting "
                f"compute {prof['compute']} got compute {header.get('compute')}, please rebuild.",
                "4: [runtime.cpp::deserializeCudaEngine::50] Error Code 4: Internal Error "
                "(Engine deserialization failed.)"]
    return None


def cross_model_warning(header, prof):
    """TensorRT's warning for a plan of the same compute capability from another device
    model (it loads anyway), or None."""
    if header and header.get("model") and header["model"] != prof["model"]:
        return ("Using an engine plan file across different models of devices is not recommended "
                "and is likely to affect performance or even cause errors.")
    return None


def fast_int8(prof):
    """Whether the GPU has fast INT8 (TensorRT's platformHasFastInt8): not on compute 5.3."""
    major, minor = (int(x) for x in prof["compute"].split("."))
    return (major, minor) >= (6, 1)


# The newest ONNX opset each TensorRT's parser documents (onnx-tensorrt docs/operators.md
# of the release branch: 8.2 "up to Opset 13", 8.5 "up to Opset 17", 10.0 "opset 9 to
# opset 20"; 10.3 is assumed to keep 10.0's 20). The real parser does not check the
# number: it fails on the first node whose newer semantics it lacks (or, for some ops,
# silently misreads them). The stand-in refuses any model above the documented opset,
# which is stricter than the real thing, never more lenient.
MAX_OPSET = {(8, 2): 13, (8, 5): 17, (10, 3): 20}


def max_opset(version):
    major, minor = (int(x) for x in version.split(".")[:2])
    return MAX_OPSET.get((major, minor)) or MAX_OPSET[(10, 3) if major >= 10 else (8, 5)]


def opset_refusal(path, prof):
    """The parser's error line when the model's opset is newer than this TensorRT reads."""
    opset, top = onnx_opset(path), max_opset(prof["tensorrt"])
    if opset <= top:
        return None
    return (f"ModelImporter.cpp:773: ERROR: opset {opset} is newer than this TensorRT's ONNX "
            f"parser supports (up to opset {top})")


def log_event(path, record):
    """Append one JSON line (under a lock) so tests can count builds and rebuilds."""
    record = dict(record, time=time.time(), pid=os.getpid(), uid=os.getuid())
    try:
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(record) + "\n")
    except OSError as exc:  # a test double must not fail the run over its own log
        print(f"y7deploy-lab stand-in: cannot log to {path}: {exc.strerror}", file=sys.stderr)


# --- just enough protobuf to read an ONNX ModelProto's graph inputs -------------------

def _varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0")
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated field")
        yield num, val


def _model_fields(path):
    with open(path, "rb") as f:
        buf = f.read()
    fields = list(_fields(buf))
    nums = {n for n, _ in fields}
    if 1 not in nums or 7 not in nums:  # ir_version and graph are required
        raise ValueError("not an ONNX ModelProto")
    return fields


def onnx_opset(path):
    """The default-domain ("" or "ai.onnx") opset the model imports; 0 when it names none."""
    for num, value in _model_fields(path):
        if num == 8:  # ModelProto.opset_import: OperatorSetIdProto {1: domain, 2: version}
            entry = dict(_fields(value))
            if bytes(entry.get(1, b"")) in (b"", b"ai.onnx"):
                return entry.get(2, 0)
    return 0


def onnx_inputs(path):
    """[(name, [dim or symbolic name, ...]), ...] of the graph inputs; ValueError if not ONNX."""
    fields = _model_fields(path)
    graph = [v for n, v in fields if n == 7][-1]
    initializers = {bytes(dict(_fields(v)).get(8, b"")) for n, v in _fields(graph) if n == 5}
    inputs = []
    for n, vi in _fields(graph):
        if n != 11:
            continue
        vf = dict(_fields(vi))
        name = bytes(vf.get(1, b"")).decode()
        if name.encode() in initializers:
            continue
        dims = []
        tensor = dict(_fields(vf.get(2, b""))).get(1, b"")
        shape = [v for k, v in _fields(tensor) if k == 2]
        for dn, dv in (_fields(shape[0]) if shape else []):
            if dn == 1:
                d = dict(_fields(dv))
                dims.append(d[1] if 1 in d else bytes(d.get(2, b"?")).decode())
        inputs.append((name, dims))
    return inputs
