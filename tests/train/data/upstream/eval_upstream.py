"""Upstream test.py's numbers for the evaluation set in eval/, kept in eval/upstream.json.

    python tests/train/data/upstream/eval_upstream.py /path/to/WongKinYiu/yolov7 [--weights-from best.pt]

Made from upstream commit a207844b1ce82d204ab36d87d496728d3d2348e7 with torch 2.13 (CPU).
Not run by the tests and not part of y7deploy: `test.py` of the checkout evaluates
eval/weights.pt on eval/images + eval/labels at img 128, conf 0.001, IoU 0.65, at several
batch sizes, through upstream's own dataloader, NMS, matching and ap_per_class.

What had to give, for upstream's code to run in this environment:
- torchvision is not installed (its wheels follow torch's CUDA build): `torchvision.ops.nms`
  is the greedy NMS written below (sort by score, drop boxes with IoU > threshold to a kept
  one), which is what torchvision's kernel computes; tqdm is a pass-through; the plotting
  packages (pandas, seaborn, scipy) are empty stand-ins from tests/model's make.py.
- test.py's NMS gives up on a batch after 10 s ("NMS time limit exceeded") and scores the
  rest of it as if nothing was detected, so on a slow or busy CPU its numbers fall with the
  batch size; whether that happened is recorded per batch size (nms_time_limit_hit). On a
  busy machine run it with OMP_WAIT_POLICY=PASSIVE (this one: load 15 on 2 cores), as
  eval/upstream.json was made.
- numpy 2 dropped `np.int` and `np.trapz`, which upstream calls: they are put back as
  `int` and `np.trapezoid`.
- torch >= 2.6 loads weights-only by default: torch.load gets weights_only=False, for the
  file this script wrote.

eval/weights.pt is a yolov7-tiny at width 0.25 for the demo set's 3 classes, saved as
upstream's strip_optimizer leaves a checkpoint (a pickled models.yolo.Model in fp16).
`--weights-from` rebuilds it with upstream's Model from the state dict of a checkpoint
trained by y7deploy (the same keys and shapes); the weights in it came from
`y7deploy train` (the EMA after epoch 40 of 60, mAP@0.5 about 0.3) on 216 other demo
images: write_demo_dataset(n_images=240, img_size=128, seed=11) imported with
import_dataset(val_fraction=0.1, seed=0), whose val split is eval/. A partly trained
detector with many false positives, so the matching rules matter.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.machinery
import io
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

HERE = Path(__file__).parent
EVAL = HERE / "eval"
IMG_SIZE = 128
BATCH_SIZES = (1, 4, 8)
NAMES = ["circle", "square", "triangle"]


def greedy_nms(boxes, scores, iou_threshold: float):
    """torchvision.ops.nms: indices of kept boxes, highest score first.

    Greedy: walk the boxes by falling score; each box still standing is kept and removes
    the later ones it overlaps by more than the threshold (IoU in float32, as torchvision's
    CPU kernel computes it). Written with numpy rows, so it is fast enough for test.py's
    10 s NMS time limit per batch.
    """
    import numpy as np
    import torch

    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = boxes[order].float().numpy().T
    area = (x2 - x1) * (y2 - y1)
    alive = np.ones(len(x1), bool)
    keep = []
    for i in range(len(x1)):
        if not alive[i]:
            continue
        keep.append(i)
        rest = np.flatnonzero(alive[i + 1:]) + i + 1
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        alive[rest[inter / (area[i] + area[rest] - inter) > iou_threshold]] = False
    return order[torch.as_tensor(keep, dtype=torch.long)]


class _Bar:
    """tqdm without the bar: iterates, and takes descriptions and updates."""

    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable, self.desc = iterable, kwargs.get("desc", "")

    def __iter__(self):
        return iter(self.iterable)

    def set_description(self, desc: str = "", *args, **kwargs) -> None:
        self.desc = desc

    def update(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def install_stand_ins() -> None:
    """What upstream imports and this environment lacks; also usable by other runners of upstream."""
    import numpy as np

    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = _Bar
    torchvision = types.ModuleType("torchvision")
    torchvision.__path__ = []
    ops = types.ModuleType("torchvision.ops")
    ops.nms = greedy_nms
    for name in ("roi_pool", "roi_align", "ps_roi_pool", "ps_roi_align", "DeformConv2d"):
        setattr(ops, name, None)
    utils = types.ModuleType("torchvision.utils")
    utils.save_image = None
    torchvision.ops, torchvision.utils = ops, utils
    for module in (tqdm, torchvision, ops, utils):  # torch's import machinery asks for a spec
        module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)
        sys.modules[module.__name__] = module
    sys.path.insert(0, str(HERE.parents[2] / "model" / "data" / "upstream"))
    from make import stub_missing  # pandas, seaborn, scipy, ... as empty modules

    stub_missing()
    if not hasattr(np, "int"):
        np.int = int
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid


def write_weights(source: str, upstream: Path) -> None:
    """eval/weights.pt: upstream's Model with the weights of `source`, through upstream's strip_optimizer."""
    import torch
    import yaml
    from models.yolo import Model
    from utils.general import strip_optimizer

    from y7deploy.train.checkpoints import load_weights

    d = yaml.safe_load((upstream / "cfg" / "training" / "yolov7-tiny.yaml").read_text())
    d["width_multiple"] = 0.25
    model = Model(d, ch=3, nc=len(NAMES))
    state = load_weights(source).state_dict
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.names, model.nc = NAMES, len(NAMES)
    ckpt = {"epoch": 39, "best_fitness": None, "training_results": None, "model": copy.deepcopy(model).half(),
            "ema": None, "updates": None, "optimizer": None, "wandb_id": None}
    torch.save(ckpt, EVAL / "weights.pt")
    strip_optimizer(str(EVAL / "weights.pt"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("upstream", type=Path, help="a checkout of WongKinYiu/yolov7")
    ap.add_argument("--weights-from", help="rebuild eval/weights.pt from this checkpoint's state dict")
    args = ap.parse_args()
    upstream = args.upstream.resolve()
    sys.path.insert(0, str(upstream))
    install_stand_ins()
    import torch

    torch.set_num_threads(1)  # a busy shared CPU: one thread that does not wait on another
    real_load = torch.load
    torch.load = lambda *a, **k: real_load(*a, **{"weights_only": False, **k})
    if args.weights_from:
        write_weights(args.weights_from, upstream)

    import test as upstream_test

    results = {}
    with tempfile.TemporaryDirectory() as tmp:  # upstream writes labels.cache beside the labels
        root = Path(tmp)
        for sub in ("images", "labels"):
            shutil.copytree(EVAL / sub, root / sub)
        data = root / "data.yaml"
        data.write_text(json.dumps({"train": str(root / "images"), "val": str(root / "images"),
                                    "nc": len(NAMES), "names": NAMES}))
        upstream_test.opt = argparse.Namespace(device="cpu", project=str(root / "runs"), name="exp",
                                               exist_ok=True, task="val", single_cls=False)
        for bs in BATCH_SIZES:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                (mp, mr, map50, map5095, *_), _, _ = upstream_test.test(
                    str(data), weights=str(EVAL / "weights.pt"), batch_size=bs, imgsz=IMG_SIZE, conf_thres=0.001,
                    iou_thres=0.65, plots=False, trace=False)
            print(printed.getvalue())
            results[str(bs)] = {"precision": float(mp), "recall": float(mr), "mAP_0.5": float(map50),
                                "mAP_0.5:0.95": float(map5095),
                                "nms_time_limit_hit": "NMS time limit" in printed.getvalue()}
            print(f"batch {bs}: {results[str(bs)]}")
    out = {"upstream_commit": "a207844b1ce82d204ab36d87d496728d3d2348e7", "torch": torch.__version__,
           "img_size": IMG_SIZE, "conf_thres": 0.001, "iou_thres": 0.65, "images": len(list((EVAL / "images").iterdir())),
           "by_batch_size": results}
    (EVAL / "upstream.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
