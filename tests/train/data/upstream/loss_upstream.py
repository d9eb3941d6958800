"""Upstream's ComputeLossOTA (utils/loss.py) on the fixed inputs of test_loss.py, kept in loss.json.

    python tests/train/data/upstream/loss_upstream.py /path/to/WongKinYiu/yolov7

Made from upstream commit a207844b1ce82d204ab36d87d496728d3d2348e7 with torch 2.13 (CPU).
Not run by the tests. The inputs are built here exactly as test_equals_upstream_computelossota
builds them (raw head outputs from randn with a generator seeded to 7, five labels on two
images); the "model" upstream's loss reads is the smallest object with its attributes
(`hyp`, `gr`, a parameter for the device, and `model[-1]` with na, nc, nl, anchors, stride).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent

HYP = {"box": 0.05, "obj": 0.7, "cls": 0.3, "cls_pw": 1.0, "obj_pw": 1.0, "anchor_t": 4.0, "fl_gamma": 0.0}
ANCHORS_P5 = [[12, 16, 19, 36, 40, 28], [36, 75, 76, 55, 72, 146], [142, 110, 192, 243, 459, 401]]
TARGETS = [[0, 0, 0.5, 0.5, 0.3, 0.4], [0, 2, 0.2, 0.25, 0.1, 0.1], [1, 1, 0.7, 0.6, 0.5, 0.3],
           [1, 2, 0.3, 0.7, 0.8, 0.5], [1, 0, 0.85, 0.15, 0.05, 0.08]]


def main(upstream: str) -> None:
    sys.path.insert(0, upstream)
    sys.path.insert(0, str(HERE.parents[2] / "model" / "data" / "upstream"))
    from make import stub_missing  # torchvision, pandas, ... as empty modules (the loss needs none)

    stub_missing()
    import torch
    from torch import nn
    from utils.loss import ComputeLossOTA

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.nc, self.nl, self.na = 3, 3, 3
            self.stride = torch.tensor([8.0, 16.0, 32.0])
            self.anchors = torch.tensor(ANCHORS_P5, dtype=torch.float32).view(3, -1, 2) / self.stride.view(-1, 1, 1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.ModuleList([Head()])
            self.dummy = nn.Parameter(torch.zeros(1))  # the loss asks the parameters for the device
            self.hyp, self.gr = dict(HYP), 1.0

    g = torch.Generator().manual_seed(7)
    p = [torch.randn(2, 3, 128 // s, 128 // s, 8, generator=g) for s in (8, 16, 32)]
    loss, items = ComputeLossOTA(Net())(p, torch.tensor(TARGETS), torch.zeros(2, 3, 128, 128))
    out = {"upstream_commit": "a207844b1ce82d204ab36d87d496728d3d2348e7", "torch": torch.__version__,
           "hyp": HYP, "anchors": ANCHORS_P5, "targets": TARGETS, "seed": 7,
           "items_box_obj_cls_total": items.tolist(), "loss": loss.item()}
    (HERE / "loss.json").write_text(json.dumps(out, indent=1) + "\n")
    print(out["items_box_obj_cls_total"], out["loss"])


if __name__ == "__main__":
    main(sys.argv[1])
