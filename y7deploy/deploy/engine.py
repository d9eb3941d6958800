"""TensorRT engines: what identifies one, which devices may share one, and the trtexec
command line each TensorRT version really takes.

Pure functions over facts and versions (NVIDIA-FACTS.md, read from NVIDIA/TensorRT's
`samples/common/sampleOptions.cpp` on release/8.2, 8.5 and 10.3):

- `--workspace=N` (MiB) up to 8.3; `--memPoolSize=workspace:N` from 8.4 (8.x reads a
  plain number of MiB; 10.x takes a B/K/M/G suffix, and `--workspace` is gone).
- `--buildOnly` on 8.x, `--skipInference` on 10.x; `--explicitBatch` is never passed (a
  no-op with a warning on 8.x, unknown on 10.x).
- Shape flags only for a model with a dynamic batch axis: a static model given shapes fails.
- `--useDLACore=N` with `--allowGPUFallback` (layers DLA cannot run go to the GPU).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
PRECISIONS = ("fp32", "fp16", "int8")

# The newest ONNX opset each TensorRT's parser documents (onnx-tensorrt operators.md per
# branch). A version between two rows gets the older row: refusing by opset is the
# stricter rule, the real parser fails later, on the first node it cannot import.
_MAX_OPSET = (((10, 0), 20), ((8, 5), 17), ((8, 0), 13))

# Jetson GPUs with fast INT8 (TensorRT's support matrix): Xavier (7.2) and Orin (8.7).
# The Nano (5.3) and TX2 (6.2) have none; nvinfer then falls back to FP16 silently.
_FAST_INT8 = {"7.2", "8.7"}

# SoCs without a DLA core: Nano/TX1 (tegra210), TX2 (tegra186).
_NO_DLA = {"tegra210", "tegra186"}


def trt_series(version: str) -> tuple[int, int]:
    """'8.5.2.2' -> (8, 5); an unreadable version -> (0, 0)."""
    match = re.match(r"^\s*(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def max_opset(trt_version: str) -> int | None:
    """The newest ONNX opset this TensorRT's parser documents; None below 8.0 (unknown here)."""
    series = trt_series(trt_version)
    for since, opset in _MAX_OPSET:
        if series >= since:
            return opset
    return None


def has_fast_int8(compute_capability: str) -> bool:
    return compute_capability in _FAST_INT8


def has_dla(soc: str) -> bool:
    return bool(soc) and soc not in _NO_DLA


def has_nvenc(module: str) -> bool:
    """Whether the module has a hardware video encoder: every Jetson but the Orin Nano."""
    return "orin nano" not in " ".join((module or "").lower().split())


def batch_profile(batch: int, dynamic: bool) -> str:
    """'b4' for a static batch of 4; 'd1-4' for a dynamic axis built for batches 1..4."""
    return f"d1-{batch}" if dynamic else f"b{batch}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", (text or "").lower()).strip("-.") or "unknown"


def engine_key(onnx_sha256: str, precision: str, batch_profile: str, trt_version: str,
               compute_capability: str, gpu_model: str, dla_core: int | None) -> str:
    """A short, filesystem-safe, stable name for one engine.

    Readable parts (model prefix, precision, batch, TensorRT, compute, DLA) for the
    operator, then 16 hex digits of a sha256 over the whole tuple, the GPU model included,
    so two keys are equal exactly when every part of the tuple is.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    dla = "gpu" if dla_core is None else f"dla{int(dla_core)}"
    parts = (onnx_sha256, precision, batch_profile, trt_version, compute_capability,
             " ".join((gpu_model or "").split()), dla)
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    sm = (compute_capability or "0").replace(".", "")
    return f"{onnx_sha256[:8]}-{precision}-{_slug(batch_profile)}-trt{_slug(trt_version)}-sm{sm}-{dla}-{digest}"


def device_class(facts: Mapping[str, Any], precision: str, batch_profile: str,
                 dla_core: int | None = None) -> str:
    """Hosts that may share one engine: same module, L4T and TensorRT, and the same
    precision, batch profile and DLA core asked of them."""
    dla = "" if dla_core is None else f" dla{int(dla_core)}"
    return (f"{_slug(facts.get('model', ''))} l4t{facts.get('l4t', '?')} "
            f"trt{facts.get('tensorrt', '?')} {precision} {batch_profile}{dla}")


def trtexec_argv(trt_version: str, onnx_path: str, engine_path: str, *, precision: str,
                 dynamic: bool, batch: int, input_name: str, input_hw: tuple[int, int],
                 workspace_mib: int | None = None, timing_cache: str | None = None,
                 calib_file: str | None = None, dla_core: int | None = None,
                 trtexec: str = TRTEXEC) -> list[str]:
    """trtexec's argv to build `engine_path` from `onnx_path` on this TensorRT, without
    running inference. `engine_path` should be a temporary name the caller renames."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    series = trt_series(trt_version)
    if series == (0, 0):
        raise ValueError(f"TensorRT version {trt_version!r} is not readable")
    argv = [trtexec, f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if series >= (10, 0):
        argv.append("--skipInference")
    else:
        argv.append("--buildOnly")
    if workspace_mib:
        if series >= (10, 0):
            argv.append(f"--memPoolSize=workspace:{int(workspace_mib)}M")
        elif series >= (8, 4):
            argv.append(f"--memPoolSize=workspace:{int(workspace_mib)}")
        else:
            argv.append(f"--workspace={int(workspace_mib)}")
    if precision == "fp16":
        argv.append("--fp16")
    elif precision == "int8":
        if not calib_file:
            raise ValueError("int8 needs a calibration table (calib_file)")
        argv += ["--int8", f"--calib={calib_file}"]
    if dynamic:
        h, w = input_hw
        argv += [f"--minShapes={input_name}:1x3x{h}x{w}",
                 f"--optShapes={input_name}:{batch}x3x{h}x{w}",
                 f"--maxShapes={input_name}:{batch}x3x{h}x{w}"]
    if timing_cache:
        argv.append(f"--timingCacheFile={timing_cache}")
    if dla_core is not None:
        argv += [f"--useDLACore={int(dla_core)}", "--allowGPUFallback"]
    return argv


def timing_cache_name(trt_version: str, gpu_model: str) -> str:
    """cache/timing-<trt>-<gpu>.cache (DESIGN.md): one cache per TensorRT and GPU model."""
    return f"timing-{_slug(trt_version)}-{_slug(gpu_model)}.cache"
