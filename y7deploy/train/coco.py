"""COCO's own metric (pycocotools' COCOeval) on what `val` saw: `y7deploy val --coco`.

Labels become the ground truth and NMS output the results, both in original-image pixels;
COCOeval does all the matching and averaging, nothing here re-implements it.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from y7deploy.errors import UserError


@dataclass
class CocoResult:
    map: float  # AP @[.5:.95], all areas, 100 detections
    map50: float
    map75: float
    stats: list[float]  # COCOeval's 12 summary numbers, in its order
    summary: str  # COCOeval's printed table


def coco_evaluate(images: list[tuple[tuple[int, int], np.ndarray, np.ndarray]], nc: int) -> CocoResult:
    """images: per image ((h0, w0), detections [n,6] xyxy conf cls, labels [m,5] cls xyxy)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UserError("--coco needs pycocotools: pip install 'y7deploy[coco]'") from None
    gt_images, annotations, results = [], [], []
    for image_id, ((h0, w0), dets, labels) in enumerate(images, 1):
        gt_images.append({"id": image_id, "height": int(h0), "width": int(w0)})
        for cls, x1, y1, x2, y2 in np.asarray(labels, dtype=float).tolist():
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls),
                                "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
        for x1, y1, x2, y2, conf, cls in np.asarray(dets, dtype=float).tolist():
            results.append({"image_id": image_id, "category_id": int(cls),
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": conf})
    gt = COCO()
    gt.dataset = {"images": gt_images, "annotations": annotations,
                  "categories": [{"id": c} for c in range(nc)]}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gt.createIndex()
        if not results or not annotations:
            return CocoResult(0.0, 0.0, 0.0, [0.0] * 12, "")
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        start = len(out.getvalue())
        evaluator.summarize()
    stats = [float(x) for x in evaluator.stats]  # -1: no boxes of that kind (e.g. no small ones)
    return CocoResult(max(stats[0], 0.0), max(stats[1], 0.0), max(stats[2], 0.0), stats, out.getvalue()[start:])
