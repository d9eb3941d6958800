"""Bench: y7deploy train against upstream YOLOv7's train.py, same data and settings, on the CPU.

    .venv/bin/python bench/train.py [--upstream /path/to/WongKinYiu/yolov7] [--epochs 3] [--img-size 320]

Both train yolov7-tiny from scratch with hyp.scratch.tiny on the built-in demo set (batch 8,
nominal batch 64, no evaluation until the last epoch), each in its own process with the
same torch thread count and loader workers. Printed per trainer: images/s through the
training loop, the time per epoch split into waiting for the loader and the rest (forward,
loss, backward, optimizer), and mAP of the final EMA weights by one evaluator
(`y7deploy val`, which scores as upstream's test.py). The runs are short on purpose (the
machine is shared): a few epochs at img 320 measure speed, not the mAP either would reach.

Upstream runs from a checkout given with --upstream (without one its half is skipped, with
a message), under the stand-ins of tests/train/data/upstream/eval_upstream.py (no
torchvision/scipy/pandas here; numpy 2 names put back); its loader is timed by wrapping
InfiniteDataLoader's iterator, nothing else of it is changed. The children run without
OMP_WAIT_POLICY in their environment, so each trainer waits as it sets itself up (y7deploy
passively, upstream as OpenMP's default); setting it for both (run a child by hand with
`--child ours|upstream`) shows what that choice is worth on a busy CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH-RESULT "


def ours(args: argparse.Namespace) -> dict:
    from y7deploy.train.trainer import TrainOptions, train  # before torch: it sets OMP_WAIT_POLICY

    _threads(args.threads)

    opt = TrainOptions(data=args.data, cfg="yolov7-tiny", hyp="scratch.tiny", epochs=args.epochs,
                       batch_size=args.batch_size, img_size=args.img_size, device="cpu", workers=args.workers,
                       project=args.project, name="ours", exist_ok=True, nbs=64, val_every=10**6)
    result = train(opt, say=lambda m: print(m, flush=True))
    return {"weights": str(result.save_dir / "weights" / "last.pt"),
            "epochs": [{"seconds": e.seconds, "data_seconds": e.data_seconds, "images": e.images}
                       for e in result.epochs]}


def upstream(args: argparse.Namespace) -> dict:
    import runpy

    sys.path.insert(0, str(ROOT / "tests" / "train" / "data" / "upstream"))
    sys.path.insert(0, args.upstream)
    from eval_upstream import install_stand_ins

    install_stand_ins()
    import torch

    _threads(args.threads)
    real_load = torch.load
    torch.load = lambda *a, **k: real_load(*a, **{"weights_only": False, **k})
    from utils import datasets

    epochs: list[dict] = []

    def timed_iter(self):
        record = {"seconds": 0.0, "data_seconds": 0.0, "images": 0}
        start = time.perf_counter()
        for _ in range(len(self)):
            t = time.perf_counter()
            batch = next(self.iterator)
            record["data_seconds"] += time.perf_counter() - t
            record["images"] += len(batch[0])
            yield batch
        record["seconds"] = time.perf_counter() - start
        if self.dataset.augment:  # the training loader, not test.py's
            epochs.append(record)

    datasets.InfiniteDataLoader.__iter__ = timed_iter
    data = Path(args.project) / "upstream-data.yaml"
    data.write_text(json.dumps(_yaml_for_upstream(args.data)))
    sys.argv = ["train.py", "--weights", "", "--cfg", str(Path(args.upstream) / "cfg/training/yolov7-tiny.yaml"),
                "--data", str(data), "--hyp", str(Path(args.upstream) / "data/hyp.scratch.tiny.yaml"),
                "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                "--img-size", str(args.img_size), str(args.img_size), "--device", "cpu",
                "--workers", str(args.workers), "--project", args.project, "--name", "upstream", "--exist-ok",
                "--notest"]
    cwd = os.getcwd()
    os.chdir(args.upstream)  # train.py reads paths relative to the checkout
    try:
        runpy.run_path("train.py", run_name="__main__")
    finally:
        os.chdir(cwd)
    return {"weights": str(Path(args.project) / "upstream" / "weights" / "last.pt"), "epochs": epochs}


def _threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def _yaml_for_upstream(data_yaml: str) -> dict:
    from y7deploy.data.config import load_data_config

    data = load_data_config(data_yaml)
    return {"train": [str(p) for p in data.train], "val": [str(p) for p in data.val], "nc": data.nc,
            "names": list(data.names)}


def run_child(which: str, args: argparse.Namespace) -> dict | None:
    cmd = [sys.executable, __file__, "--child", which, "--data", args.data, "--project", args.project,
           "--epochs", str(args.epochs), "--img-size", str(args.img_size), "--batch-size", str(args.batch_size),
           "--workers", str(args.workers), "--threads", str(args.threads)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # each trainer as it sets itself up
    if args.upstream:
        cmd += ["--upstream", args.upstream]
    log = Path(args.project) / f"{which}.log"
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env).returncode
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith(MARK)]
    if rc or not lines:
        print(f"{which}: failed (exit {rc}), see {log}")
        return None
    return json.loads(lines[-1][len(MARK):])


def report(name: str, result: dict, data_yaml: str, img_size: int) -> dict:
    from y7deploy.train.val import validate

    epochs = result["epochs"]
    seconds = sum(e["seconds"] for e in epochs)
    data_s = sum(e["data_seconds"] for e in epochs)
    images = sum(e["images"] for e in epochs)
    res = validate(data_yaml, result["weights"], img_size=img_size, batch_size=16, device="cpu", workers=0)
    row = {"ips": images / seconds, "epoch_s": seconds / len(epochs), "data_s": data_s / len(epochs),
           "map50": res.map50, "map": res.map}
    per_epoch = ", ".join(f"{e['seconds']:.1f}" for e in epochs)
    per_epoch += f" s; median {statistics.median(e['seconds'] for e in epochs):.1f}"
    print(f"{name:>9}: {row['ips']:6.2f} images/s  epoch {row['epoch_s']:6.1f} s = data {row['data_s']:5.1f} s "
          f"+ compute {row['epoch_s'] - row['data_s']:5.1f} s  mAP@0.5 {res.map50:.3f}  mAP@0.5:0.95 {res.map:.3f}  "
          f"(epochs: {per_epoch} s)")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", default=None, help="a checkout of WongKinYiu/yolov7 (without: ours only)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--img-size", type=int, default=320)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--images", type=int, default=120, help="demo images (80%% train, 20%% val)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads in each trainer (0: its own default)")
    ap.add_argument("--out", default=None, help="keep the dataset and runs here (default: a temp dir)")
    ap.add_argument("--child", choices=("ours", "upstream"), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--project", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        result = (ours if args.child == "ours" else upstream)(args)
        print(MARK + json.dumps(result), flush=True)
        return 0

    from y7deploy.data.cvat import import_dataset
    from y7deploy.data.demo import write_demo_dataset

    root = Path(args.out or tempfile.mkdtemp(prefix="y7bench-train-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    ds = root / "demo"
    if not (ds / "data.yaml").is_file():
        shutil.rmtree(ds, ignore_errors=True)
        import_dataset(write_demo_dataset(root / "demo.zip", n_images=args.images, img_size=args.img_size), ds)
    args.data, args.project = str(ds / "data.yaml"), str(root / "runs")
    Path(args.project).mkdir(exist_ok=True)
    threads = args.threads or "its default"
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}; each trainer: torch threads "
          f"{threads}, {args.workers} loader worker(s)")
    print(f"setting: yolov7-tiny from scratch, hyp.scratch.tiny, {args.images} demo images, img {args.img_size}, "
          f"batch {args.batch_size}, nominal batch 64, {args.epochs} epochs, evaluation after the last only")
    rows = {}
    mine = run_child("ours", args)
    if mine:
        rows["y7deploy"] = report("y7deploy", mine, args.data, args.img_size)
    if not args.upstream:
        print("upstream: skipped (give --upstream /path/to/WongKinYiu/yolov7 to compare)")
    else:
        theirs = run_child("upstream", args)
        if theirs:
            rows["upstream"] = report("upstream", theirs, args.data, args.img_size)
    if len(rows) == 2:
        print(f"ratio y7deploy / upstream: {rows['y7deploy']['ips'] / rows['upstream']['ips']:.2f}x images/s")
    return 0 if rows and len(rows) == (2 if args.upstream else 1) else 1


if __name__ == "__main__":
    sys.exit(main())
