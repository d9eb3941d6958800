"""Optional TensorRT check: parse the ONNX with TensorRT's own parser and build a throw-away engine.

onnxruntime accepting a graph says little about TensorRT: an unsupported layer or
a shape the parser cannot infer only shows up on the device, at the first start.
On a workstation with an NVIDIA GPU and the ``trt`` extra this catches it before
the fleet does. The engine is discarded: engines are specific to a GPU and a
TensorRT version, so the devices build their own.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from y7deploy.errors import NotAvailable, UserError

WORKSPACE_BYTES = 1 << 30


def gpu_missing_reason() -> str | None:
    """Why the TensorRT check cannot run here, or None when it can."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no NVIDIA GPU on this machine (nvidia-smi not found); --check-trt needs one"
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nvidia-smi failed ({exc}); --check-trt needs a working NVIDIA GPU"
    if listed.returncode != 0 or "GPU" not in listed.stdout:
        return "nvidia-smi lists no GPU; --check-trt needs one"
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt Python package is not installed (pip install 'y7deploy[trt]')"
    return None


def require_trt() -> None:
    reason = gpu_missing_reason()
    if reason:
        raise NotAvailable(reason)


def build_engine(onnx_file: Path, img_size: tuple[int, int], *, batch: int = 1, dynamic: bool = False,
                 fp16: bool = False) -> int:
    """Parse and build; returns the serialized engine's size. UserError naming the first parser error."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_file).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UserError(f"{onnx_file.name}: TensorRT {trt.__version__} cannot parse it: {errors}")
    config = builder.create_builder_config()
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    else:  # TensorRT < 8.4
        config.max_workspace_size = WORKSPACE_BYTES
    if fp16 and getattr(builder, "platform_has_fast_fp16", True):  # the property is gone in TensorRT 10
        config.set_flag(trt.BuilderFlag.FP16)
    if dynamic:
        profile = builder.create_optimization_profile()
        shape = (3, *img_size)
        profile.set_shape(network.get_input(0).name, (1, *shape), (1, *shape), (max(batch, 4), *shape))
        config.add_optimization_profile(profile)
    if hasattr(builder, "build_serialized_network"):
        engine = builder.build_serialized_network(network, config)
    else:  # TensorRT 7
        engine = builder.build_engine(network, config)
        engine = engine.serialize() if engine is not None else None
    if engine is None:
        raise UserError(f"{onnx_file.name}: TensorRT {trt.__version__} parsed it but could not build an engine")
    return int(getattr(engine, "nbytes", 0) or len(bytes(engine)))
