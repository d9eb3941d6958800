"""Bench: yolov7-tiny (full width, from scratch) on the built-in demo dataset, on the CPU.

Prints training throughput (images per second through forward, loss, backward and the
optimizer, data loading included) and mAP@0.5 / mAP@0.5:0.95 of best.pt on the val
split after a fixed number of epochs. The demo set is easy on purpose: the target is
mAP@0.5 >= 0.8.

    .venv/bin/python bench/train.py [--epochs 30] [--img-size 320] [--out /tmp/y7bench-train]

No pretrained weights exist offline, so the run starts from scratch with the tiny hyp;
batch 8 with a nominal batch of 8 (one optimizer step per batch instead of upstream's 64 through
accumulation) gives the short run enough steps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--img-size", type=int, default=320)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--nbs", type=int, default=8, help="nominal batch (upstream: 64)")
    ap.add_argument("--images", type=int, default=300, help="demo images (80%% train, 20%% val)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=5)
    ap.add_argument("--out", default=None, help="keep the dataset and run here (default: a temp dir)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from y7deploy.data.cvat import import_dataset
    from y7deploy.data.demo import write_demo_dataset
    from y7deploy.train.trainer import TrainOptions, train
    from y7deploy.train.val import validate

    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="y7bench-train-"))
    root.mkdir(parents=True, exist_ok=True)
    ds = root / "demo"
    if not (ds / "data.yaml").is_file():
        shutil.rmtree(ds, ignore_errors=True)
        zip_path = write_demo_dataset(root / "demo.zip", n_images=args.images, img_size=args.img_size)
        import_dataset(zip_path, ds)
    opt = TrainOptions(data=str(ds / "data.yaml"), cfg="yolov7-tiny", hyp="scratch.tiny", epochs=args.epochs,
                       batch_size=args.batch_size, img_size=args.img_size, device="cpu", workers=args.workers,
                       project=str(root / "runs"), name="bench", exist_ok=True, nbs=args.nbs,
                       val_every=args.val_every)
    t0 = time.time()
    result = train(opt, say=lambda m: print(m, flush=True))
    wall = time.time() - t0
    best = result.save_dir / "weights" / "best.pt"
    res = validate(str(ds / "data.yaml"), str(best), img_size=args.img_size, batch_size=32, device="cpu",
                   workers=args.workers)
    print(res.table())
    print()
    print(f"machine: {os.cpu_count()} cpus, torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"train: yolov7-tiny from scratch, img {args.img_size}, batch {args.batch_size}, nbs {args.nbs}, "
          f"{args.epochs} epochs, wall {wall / 60:.1f} min")
    print(f"throughput: {result.images_per_second:.2f} images/s (training loop, data loading included)")
    print(f"best.pt: mAP@0.5 {res.map50:.3f}  mAP@0.5:0.95 {res.map:.3f}  P {res.ap.mp:.3f}  R {res.ap.mr:.3f}")
    ok = res.map50 >= 0.8
    print(f"target mAP@0.5 >= 0.8: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
