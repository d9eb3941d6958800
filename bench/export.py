"""Export bench: yolov7-tiny at 640 (random weights, nc=80), batch 1, on this machine's CPU.

Prints the time of each export stage (reparameterize, ONNX export, onnxruntime verification),
medians of --exports runs, then the median latency of onnxruntime (CPU) and of PyTorch eager on the same deploy-form
model and input, after warm-up, and their ratio.

    .venv/bin/python bench/export.py [--threads 2] [--runs 15] [--exports 3] [--img-size 640]

On a machine shared with other work, PyTorch's thread pool suffers most from the
contention (its workers wait on each other); --threads 1 gives steadier figures there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from y7deploy.model.export import DeepStreamOutput, export_model
from y7deploy.model.reparam import reparameterize
from y7deploy.model.yolo import build_model


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--img-size", type=int, default=640)
    parser.add_argument("--exports", type=int, default=3, help="exports timed (the median is printed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = args.img_size

    torch.manual_seed(0)
    model = build_model("yolov7-tiny", nc=80).eval()
    with tempfile.TemporaryDirectory() as tmp:
        totals, stages = [], {}
        for i in range(max(1, args.exports)):
            start = time.perf_counter()
            result = export_model(model, model.names, name="bench", version=str(i + 1), out=Path(tmp),
                                  img_size=[size], reparameterize=reparameterize)
            totals.append(time.perf_counter() - start)
            for k, v in result.seconds.items():
                stages.setdefault(k, []).append(v)
        split = ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in stages.items())
        print(f"export yolov7-tiny {size}x{size} b1, median of {len(totals)}: {statistics.median(totals):.2f} s "
              f"total ({split}; runs {', '.join(f'{t:.2f}' for t in totals)}); "
              f"onnx {result.release.size_bytes / 2**20:.1f} MiB")

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        # ORT's idle workers spin after each run; they would steal the cores PyTorch is timed on.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(result.release.model_path), options, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        ort_ms = median_ms(lambda: session.run(["output"], {"input": x}), args.runs)
        del session

    deploy = DeepStreamOutput(reparameterize(model)).eval()
    train_form = DeepStreamOutput(model).eval()
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        eager_ms = median_ms(lambda: deploy(xt), args.runs)
        train_ms = median_ms(lambda: train_form(xt), args.runs)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"latency b1 {size}x{size}, {args.threads} threads, median of {args.runs} (load average {load}):")
    print(f"  onnxruntime CPU          {ort_ms:8.1f} ms")
    print(f"  PyTorch eager (deploy)   {eager_ms:8.1f} ms   ratio eager/ort {eager_ms / ort_ms:.2f}x")
    print(f"  PyTorch eager (training) {train_ms:8.1f} ms   ratio eager/ort {train_ms / ort_ms:.2f}x")


if __name__ == "__main__":
    main()
