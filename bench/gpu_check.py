"""GPU check: yolov7-tiny through TensorRT (fp32, fp16) against onnxruntime, and one CUDA training epoch with AMP.

For a workstation with an NVIDIA GPU, torch built with CUDA and the tensorrt wheel
(pip install 'y7deploy[trt]'). It exports yolov7-tiny with y7deploy's exporter, builds an
fp32 and an fp16 engine from that ONNX with the tensorrt Python API, runs them on the
demo dataset's images (torch CUDA tensors as the engine's buffers) and compares every
output row with onnxruntime's on the same input: the largest box and score differences
and how often the class agrees on the highest-scoring rows. Then it trains one epoch on
the demo dataset on the GPU (the trainer uses AMP on CUDA) and prints one table.

    .venv/bin/python bench/gpu_check.py [--img-size 640] [--images 8] [--train-images 240] [--batch 16]

Without a GPU it says so in one line and exits 0. It exits 1 when an engine's outputs
are further from onnxruntime's than the tolerances below, or training does not run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# How far an engine may be from onnxruntime (boxes in pixels of the input, scores in [0, 1]).
# fp32 differs only by kernel choice; fp16 keeps about three significant digits.
TOLERANCE = {"fp32": (0.05, 1e-3, 0.99), "fp16": (2.0, 2e-2, 0.95)}  # box px, score, class agreement
TOP_ROWS = 100  # class agreement is counted on onnxruntime's highest-scoring rows


def gpu_missing_reason() -> str | None:
    """Why this check cannot run here, or None when it can."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        return f"no NVIDIA GPU visible to torch {torch.__version__} ({build})"
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt Python package is not installed (pip install 'y7deploy[trt]')"
    return None


@dataclass
class Agreement:
    box: float  # largest |difference| of x1, y1, x2, y2 over all rows, pixels
    score: float  # largest |difference| of the score column
    classes: float  # share of onnxruntime's top rows whose class is the same


def compare(engine_out: np.ndarray, reference: np.ndarray, top: int = TOP_ROWS) -> Agreement:
    """Row-by-row comparison of two [N, 6] outputs (x1, y1, x2, y2, score, class) of one image."""
    engine_out = engine_out.reshape(-1, 6).astype(np.float64)
    reference = reference.reshape(-1, 6).astype(np.float64)
    diff = np.abs(engine_out - reference)
    rows = np.argsort(-reference[:, 4])[:top]
    same = np.mean(np.rint(engine_out[rows, 5]) == np.rint(reference[rows, 5]))
    return Agreement(box=float(diff[:, :4].max()), score=float(diff[:, 4].max()), classes=float(same))


def worst(found: list[Agreement]) -> Agreement:
    return Agreement(box=max(a.box for a in found), score=max(a.score for a in found),
                     classes=min(a.classes for a in found))


def demo_images(count: int, size: int, work: Path) -> list[np.ndarray]:
    """`count` demo-set images as [1, 3, size, size] float32 RGB in 0..1, the binding DeepStream-Yolo uses."""
    import cv2

    from y7deploy.data.demo import write_demo_dataset

    archive = write_demo_dataset(work / "images.zip", n_images=count, img_size=size, seed=1)
    images = []
    with zipfile.ZipFile(archive) as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".jpg"))[:count]:
            bgr = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_COLOR)
            rgb = cv2.resize(bgr, (size, size))[:, :, ::-1].transpose(2, 0, 1)
            images.append(np.ascontiguousarray(rgb[None], dtype=np.float32) / 255.0)
    return images


def export_tiny(size: int, work: Path) -> Path:
    import torch

    from y7deploy.model.export import export_model
    from y7deploy.model.reparam import reparameterize
    from y7deploy.model.yolo import build_model

    torch.manual_seed(0)
    model = build_model("yolov7-tiny", nc=80).eval()
    result = export_model(model, model.names, name="gpucheck", version="1", out=work / "releases",
                          img_size=[size], reparameterize=reparameterize)
    return result.release.model_path


def build_engine(onnx_file: Path, fp16: bool) -> bytes:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network has an explicit batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_file.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT {trt.__version__} cannot parse {onnx_file.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    blob = builder.build_serialized_network(network, config)
    if blob is None:
        raise RuntimeError(f"TensorRT {trt.__version__} could not build the {'fp16' if fp16 else 'fp32'} engine")
    return bytes(blob)


class Engine:
    """A deserialized engine run on torch CUDA tensors (TensorRT 10's named-tensor API)."""

    def __init__(self, blob: bytes) -> None:
        import tensorrt as trt
        import torch

        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(blob)
        self.context = self.engine.create_execution_context()
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.outputs = {n: torch.empty(tuple(self.engine.get_tensor_shape(n)),
                                       dtype=dtypes[self.engine.get_tensor_dtype(n)], device="cuda")
                        for n in names if n != self.input}
        for name, tensor in self.outputs.items():
            self.context.set_tensor_address(name, tensor.data_ptr())

    def __call__(self, image) -> np.ndarray:
        import torch

        x = torch.from_numpy(image).cuda().contiguous()
        self.context.set_tensor_address(self.input, x.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return self.outputs["output"].float().cpu().numpy()


def check_engines(size: int, count: int, work: Path) -> list[list[str]]:
    import onnxruntime as ort
    import tensorrt as trt
    from export import median_ms  # bench/export.py, beside this script

    onnx_file = export_tiny(size, work)
    images = demo_images(count, size, work)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    reference = [session.run(["output"], {"input": x})[0] for x in images]
    ort_ms = median_ms(lambda: session.run(None, {"input": images[0]}), 20)
    rows = [["onnxruntime CPU (reference)", "", "", "", f"{ort_ms:.1f}", ""]]
    for precision in ("fp32", "fp16"):
        start = time.perf_counter()
        engine = Engine(build_engine(onnx_file, fp16=precision == "fp16"))
        built = time.perf_counter() - start
        found = worst([compare(engine(x), ref) for x, ref in zip(images, reference)])
        box_tol, score_tol, class_tol = TOLERANCE[precision]
        ok = found.box <= box_tol and found.score <= score_tol and found.classes >= class_tol
        rows.append([f"TensorRT {trt.__version__} {precision} (built in {built:.0f} s)", f"{found.box:.3g}",
                     f"{found.score:.3g}", f"{found.classes:.1%}", f"{median_ms(lambda: engine(images[0]), 50):.2f}",
                     "ok" if ok else f"FAIL (tolerance {box_tol} px, {score_tol}, {class_tol:.0%})"])
    return rows


def check_training(train_images: int, size: int, batch: int, work: Path) -> list[str]:
    import torch

    from y7deploy.data.cvat import import_dataset
    from y7deploy.data.demo import write_demo_dataset
    from y7deploy.train.trainer import TrainOptions, train

    archive = write_demo_dataset(work / "train.zip", n_images=train_images, img_size=size, seed=0)
    data = import_dataset(archive, work / "dataset").data_yaml
    torch.cuda.reset_peak_memory_stats()
    opt = TrainOptions(data=str(data), cfg="yolov7-tiny", epochs=1, batch_size=batch, img_size=size, device="0",
                       workers=4, project=str(work / "runs"), name="gpu", exist_ok=True)
    result = train(opt, say=lambda _line: None)
    epoch = result.epochs[-1]
    finite = bool(torch.isfinite(epoch.mloss).all())
    peak = torch.cuda.max_memory_allocated() / 2**30
    return [f"train yolov7-tiny 1 epoch, AMP, {epoch.images} images at {size}, batch {batch}",
            f"{epoch.seconds:.1f} s", f"{epoch.images / epoch.seconds:.1f} img/s", f"peak {peak:.2f} GiB",
            f"{float(epoch.mloss[-1]):.3f}", "ok" if finite and result.epochs_done == 1 else "FAIL (loss not finite)"]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img-size", type=int, default=640)
    parser.add_argument("--images", type=int, default=8, help="Demo images compared between engines.")
    parser.add_argument("--train-images", type=int, default=240)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    reason = gpu_missing_reason()
    if reason:
        print(f"gpu_check: skipped, {reason}")
        return 0
    import torch

    print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__} CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory(prefix="y7-gpu-check-") as tmp:
        work = Path(tmp)
        engines = check_engines(args.img_size, args.images, work)
        print_table(["engine vs onnxruntime", "max |Δbox| px", "max |Δscore|", f"class agreement (top {TOP_ROWS})",
                     "median ms", "verdict"], engines)
        training = check_training(args.train_images, args.img_size, args.batch, work)
        print_table(["training", "epoch time", "throughput", "GPU memory", "mean loss", "verdict"], [training])
    return 0 if all(r[-1] in ("ok", "") for r in [*engines, training]) else 1

if __name__ == "__main__":
    sys.exit(main())
