"""Boxes, NMS and detection metrics: what `val` prints and what picks `best.pt`.

torchvision is not a dependency, so NMS is a plain greedy loop in torch: it runs at
most `max_det` rounds, each one vectorised over the remaining boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

IOU_THRESHOLDS = torch.linspace(0.5, 0.95, 10)  # the COCO mAP@0.5:0.95 ladder


def xywh2xyxy(x: torch.Tensor) -> torch.Tensor:
    y = x.clone()
    y[..., 0] = x[..., 0] - x[..., 2] / 2
    y[..., 1] = x[..., 1] - x[..., 3] / 2
    y[..., 2] = x[..., 0] + x[..., 2] / 2
    y[..., 3] = x[..., 1] + x[..., 3] / 2
    return y


def box_iou(box1: torch.Tensor, box2: torch.Tensor) -> torch.Tensor:
    """IoU of every box in box1 [N,4] with every box in box2 [M,4], both xyxy -> [N,M]."""
    area1 = (box1[:, 2] - box1[:, 0]).clamp(0) * (box1[:, 3] - box1[:, 1]).clamp(0)
    area2 = (box2[:, 2] - box2[:, 0]).clamp(0) * (box2[:, 3] - box2[:, 1]).clamp(0)
    lt = torch.max(box1[:, None, :2], box2[None, :, :2])
    rb = torch.min(box1[:, None, 2:], box2[None, :, 2:])
    inter = (rb - lt).clamp(0).prod(2)
    return inter / (area1[:, None] + area2[None, :] - inter + 1e-9)


def bbox_ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete-IoU of paired boxes box1[i] with box2[i], both [N,4] xywh (the loss's box term)."""
    b1x1, b1x2 = box1[:, 0] - box1[:, 2] / 2, box1[:, 0] + box1[:, 2] / 2
    b1y1, b1y2 = box1[:, 1] - box1[:, 3] / 2, box1[:, 1] + box1[:, 3] / 2
    b2x1, b2x2 = box2[:, 0] - box2[:, 2] / 2, box2[:, 0] + box2[:, 2] / 2
    b2y1, b2y2 = box2[:, 1] - box2[:, 3] / 2, box2[:, 1] + box2[:, 3] / 2
    inter = (torch.min(b1x2, b2x2) - torch.max(b1x1, b2x1)).clamp(0) * (
        torch.min(b1y2, b2y2) - torch.max(b1y1, b2y1)
    ).clamp(0)
    w1, h1 = b1x2 - b1x1, b1y2 - b1y1 + eps
    w2, h2 = b2x2 - b2x1, b2y2 - b2y1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.max(b1x2, b2x2) - torch.min(b1x1, b2x1)  # enclosing box
    ch = torch.max(b1y2, b2y2) - torch.min(b1y1, b2y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = (4 / math.pi**2) * torch.pow(torch.atan(w2 / h2) - torch.atan(w1 / h1), 2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thres: float, max_keep: int = 300) -> torch.Tensor:
    """Greedy NMS: indices of kept boxes (xyxy), highest score first."""
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() and len(keep) < max_keep:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        iou = box_iou(boxes[i][None], boxes[rest])[0]
        order = rest[iou <= iou_thres]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long, device=boxes.device)


def non_max_suppression(
    prediction: torch.Tensor,
    conf_thres: float = 0.25,
    iou_thres: float = 0.45,
    multi_label: bool = False,
    agnostic: bool = False,
    max_det: int = 300,
) -> list[torch.Tensor]:
    """Per image of the eval output [B,N,nc+5] (xywh, obj, cls): detections [n,6] xyxy, conf, cls."""
    nc = prediction.shape[2] - 5
    max_wh, max_nms = 4096, 30000
    multi_label &= nc > 1
    out = []
    for x in prediction:
        x = x[x[:, 4] > conf_thres]
        if nc == 1:
            conf = x[:, 4:5]  # one class: its score is the objectness alone
        else:
            conf = x[:, 5:] * x[:, 4:5]
        box = xywh2xyxy(x[:, :4])
        if multi_label:
            i, j = (conf > conf_thres).nonzero(as_tuple=False).T
            det = torch.cat((box[i], conf[i, j, None], j[:, None].float()), 1)
        else:
            best, j = conf.max(1, keepdim=True)
            det = torch.cat((box, best, j.float()), 1)[best.view(-1) > conf_thres]
        if det.shape[0] > max_nms:
            det = det[det[:, 4].argsort(descending=True)[:max_nms]]
        if not det.shape[0]:
            out.append(det.new_zeros((0, 6)))
            continue
        offset = det[:, 5:6] * (0 if agnostic else max_wh)  # classes never overlap each other
        keep = nms(det[:, :4] + offset, det[:, 4], iou_thres, max_det)
        out.append(det[keep])
    return out


def match_predictions(detections: torch.Tensor, labels: torch.Tensor, iouv: torch.Tensor) -> torch.Tensor:
    """Which detections [n,6] are true positives at each IoU threshold, given labels [m,5] (cls, xyxy).

    Upstream test.py's rule: per class, detections in confidence order (NMS order) each take
    their best-IoU label of that class; the first to take a label above iouv[0] keeps it and is
    scored at every threshold by that one IoU (IoU > threshold); later ones find it taken.
    """
    correct = torch.zeros(detections.shape[0], iouv.numel(), dtype=torch.bool, device=detections.device)
    if not labels.shape[0] or not detections.shape[0]:
        return correct
    iouv = iouv.to(detections.device)
    for cls in torch.unique(labels[:, 0]):
        ti = (labels[:, 0] == cls).nonzero().view(-1)
        pi = (detections[:, 5] == cls).nonzero().view(-1)
        if not pi.numel():
            continue
        ious, best = box_iou(detections[pi, :4], labels[ti, 1:]).max(1)
        taken: set[int] = set()
        for j in (ious > iouv[0]).nonzero().view(-1).tolist():
            label = int(ti[best[j]])
            if label not in taken:
                taken.add(label)
                correct[pi[j]] = ious[j] > iouv
    return correct


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Upstream's AP: (ap, envelope precision, recall with sentinels).

    Sentinels (recall 0 at precision 1, recall[-1] + 0.01 at precision 0), the precision
    envelope, then the trapezoid integral of its linear interpolation at 101 recall points.
    """
    mrec = np.concatenate(([0.0], recall, [recall[-1] + 0.01]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(_trapezoid(np.interp(x, mrec, mpre), x)), mpre, mrec


_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


@dataclass
class APResult:
    """Per-class detection quality; p, r, f1 are taken at the confidence of best mean F1."""

    classes: np.ndarray  # class indices that have labels or predictions
    p: np.ndarray
    r: np.ndarray
    f1: np.ndarray
    ap: np.ndarray  # [nc_seen, 10], one column per IoU threshold
    px: np.ndarray = field(default_factory=lambda: np.linspace(0, 1, 1000))  # recall grid for curves
    py: np.ndarray = field(default_factory=lambda: np.zeros((0, 1000)))  # precision at px @0.5 per class
    n_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def ap50(self) -> np.ndarray:
        return self.ap[:, 0] if self.ap.size else np.zeros(0)

    @property
    def map50(self) -> float:
        return float(self.ap[:, 0].mean()) if self.ap.size else 0.0

    @property
    def map(self) -> float:
        return float(self.ap.mean()) if self.ap.size else 0.0

    @property
    def mp(self) -> float:
        return float(self.p.mean()) if self.p.size else 0.0

    @property
    def mr(self) -> float:
        return float(self.r.mean()) if self.r.size else 0.0


def ap_per_class(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray) -> APResult:
    """AP at each IoU threshold per class, from all detections of a dataset.

    tp [n,10] bool (from match_predictions), conf [n], pred_cls [n], target_cls [m].
    As upstream's utils/metrics.py: classes are those with labels, and a dataset without a
    single true positive scores 0 everywhere (test.py skips the computation then).
    """
    tp = np.asarray(tp, dtype=bool).reshape(len(conf), -1)
    order = np.argsort(-np.asarray(conf))  # upstream's (unstable) sort, so ties fall the same way
    tp, conf, pred_cls = tp[order], np.asarray(conf)[order], np.asarray(pred_cls)[order]
    target_cls = np.asarray(target_cls)
    classes = np.unique(target_cls).astype(int)  # AP is defined for classes that have labels
    nc, nt = len(classes), tp.shape[1]
    if not tp.any():
        classes = np.zeros(0, int)
        nc = 0
    px = np.linspace(0, 1, 1000)
    ap = np.zeros((nc, nt))
    p_at, r_at = np.zeros((nc, 1000)), np.zeros((nc, 1000))
    py = np.zeros((nc, 1000))
    n_labels = np.zeros(nc, int)
    for ci, c in enumerate(classes):
        sel = pred_cls == c
        n_l = int((target_cls == c).sum())
        n_labels[ci] = n_l
        if not sel.any():
            continue
        fpc = (1 - tp[sel]).cumsum(0)
        tpc = tp[sel].cumsum(0)
        recall = tpc / (n_l + 1e-16)
        precision = tpc / (tpc + fpc)
        # curves over confidence (-conf because np.interp needs increasing x)
        r_at[ci] = np.interp(-px, -conf[sel], recall[:, 0], left=0)
        p_at[ci] = np.interp(-px, -conf[sel], precision[:, 0], left=1)
        for j in range(nt):
            ap[ci, j], mpre, mrec = compute_ap(recall[:, j], precision[:, j])
            if j == 0:
                py[ci] = np.interp(px, mrec, mpre)
    f1 = 2 * p_at * r_at / (p_at + r_at + 1e-16)
    best = int(f1.mean(0).argmax()) if nc else 0
    return APResult(classes, p_at[:, best], r_at[:, best], f1[:, best], ap, px, py, n_labels)


def fitness(map50: float, map5095: float) -> float:
    """What `best.pt` maximises, as upstream: mostly the strict mAP, a little of the loose one."""
    return 0.1 * map50 + 0.9 * map5095


class ConfusionMatrix:
    """Counts [nc+1, nc+1]: rows predicted class, columns true class; the last index is background."""

    def __init__(self, nc: int, conf: float = 0.25, iou_thres: float = 0.45):
        self.matrix = np.zeros((nc + 1, nc + 1))
        self.nc, self.conf, self.iou_thres = nc, conf, iou_thres

    def update(self, detections: torch.Tensor, labels: torch.Tensor) -> None:
        """detections [n,6] xyxy, conf, cls; labels [m,5] cls, xyxy."""
        detections = detections[detections[:, 4] > self.conf]
        gt = labels[:, 0].long().tolist()
        dc = detections[:, 5].long().tolist()
        matched_gt, matched_det = set(), set()
        if labels.shape[0] and detections.shape[0]:
            iou = box_iou(labels[:, 1:], detections[:, :4])
            pairs = (iou > self.iou_thres).nonzero().tolist()
            pairs.sort(key=lambda ij: -float(iou[ij[0], ij[1]]))
            for li, di in pairs:
                if li in matched_gt or di in matched_det:
                    continue
                matched_gt.add(li)
                matched_det.add(di)
                self.matrix[dc[di], gt[li]] += 1
        for li, c in enumerate(gt):
            if li not in matched_gt:
                self.matrix[self.nc, c] += 1  # missed: background predicted
        for di, c in enumerate(dc):
            if di not in matched_det:
                self.matrix[c, self.nc] += 1  # false alarm on background
