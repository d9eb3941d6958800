"""Upstream's anchor fit (utils/autoanchor.py check_anchors) on a small box set, kept in anchors.json.

    python tests/train/data/upstream/anchors_upstream.py /path/to/WongKinYiu/yolov7

Made from upstream commit a207844b1ce82d204ab36d87d496728d3d2348e7. Not run by the tests.
For each case, check_anchors gets the box set (as a dataset's `shapes` and `labels`) and a
head with the case's anchors, with numpy's global generator seeded to 0 right before (its
0.9-1.1 size jitter draws from it); the "anchors/target" and "Best Possible Recall" it prints
are parsed and written with the inputs. scipy is absent here, so when BPR < 0.98 upstream's
k-means attempt fails inside check_anchors (which catches it) and only the measurement is kept.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import types
from pathlib import Path

HERE = Path(__file__).parent

SHAPES = [[128, 128], [128, 96], [640, 480], [100, 300], [256, 256], [320, 240]]  # (w, h) per image
LABELS = [  # cls, x, y, w, h normalised
    [[0, 0.5, 0.5, 0.2, 0.2], [1, 0.3, 0.3, 0.1, 0.3]],
    [[2, 0.5, 0.5, 0.6, 0.4]],
    [[0, 0.2, 0.2, 0.05, 0.05], [0, 0.7, 0.7, 0.3, 0.02], [1, 0.5, 0.5, 0.9, 0.9]],
    [[1, 0.5, 0.5, 0.5, 0.1]],
    [],
    [[2, 0.4, 0.6, 0.25, 0.5], [2, 0.6, 0.4, 0.02, 0.4]],
]
P5 = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]
CASES = [
    {"name": "p5 anchors at 640", "anchors": P5, "img_size": 640, "thr": 4.0},
    {"name": "p5 anchors at 128", "anchors": P5, "img_size": 128, "thr": 4.0},
    {"name": "p5 anchors at 128, anchor_t 2", "anchors": P5, "img_size": 128, "thr": 2.0},
    {"name": "one shape of anchor", "anchors": [[20, 20] * 3] * 3, "img_size": 256, "thr": 4.0},
]


def main(upstream: str) -> None:
    sys.path.insert(0, upstream)
    sys.path.insert(0, str(HERE.parents[2] / "model" / "data" / "upstream"))
    sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda it=None, *a, **k: it)
    from make import stub_missing  # scipy, pandas, ... as empty modules

    stub_missing()
    import numpy as np
    import torch
    from utils.autoanchor import check_anchors

    dataset = types.SimpleNamespace(shapes=np.array(SHAPES, dtype=np.float64),
                                    labels=[np.array(lb, dtype=np.float32).reshape(-1, 5) for lb in LABELS])
    out = {"upstream_commit": "a207844b1ce82d204ab36d87d496728d3d2348e7", "shapes": SHAPES, "labels": LABELS,
           "seed": 0, "cases": []}
    for case in CASES:
        a = torch.tensor(case["anchors"], dtype=torch.float32).view(3, -1, 2)
        stride = torch.tensor([8.0, 16.0, 32.0])
        head = types.SimpleNamespace(anchor_grid=a.clone().view(3, 1, -1, 1, 1, 2), anchors=a / stride.view(-1, 1, 1),
                                     stride=stride)
        np.random.seed(0)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            check_anchors(dataset, types.SimpleNamespace(model=[head]), thr=case["thr"], imgsz=case["img_size"])
        found = re.search(r"anchors/target = ([\d.]+), Best Possible Recall \(BPR\) = (\d+\.\d+)", printed.getvalue())
        out["cases"].append({**case, "anchors_per_label": float(found[1]), "bpr": float(found[2])})
        print(case["name"], found[0])
    (HERE / "anchors.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
