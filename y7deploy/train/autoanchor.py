"""Anchors that fit the dataset: upstream's autoanchor (utils/autoanchor.py), without scipy.

At the start of training the labels' sizes (at the training image size, each image's
scale jittered by 0.9-1.1 as upstream does) are compared with the head's anchors: a
label is catchable when some anchor is within `anchor_t` of it in both width and height
ratio. When under 98% are (best possible recall, BPR), k-means on the whitened sizes and
a genetic refinement of that fit propose new anchors, which replace the old ones if
their BPR is higher. The chosen anchors live in the head's buffers (and the model's cfg),
so they are saved with the weights and reach the export.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

BPR_THRESHOLD = 0.98


@dataclass
class AnchorReport:
    """What the check found; `message` is the line training prints."""

    bpr: float
    anchors_per_label: float  # anchors within the ratio threshold of a label, on average
    anchors: np.ndarray  # [n, 2] pixels, the ones the model now has
    new_bpr: float | None = None  # of the evolved anchors, when evolution ran
    replaced: bool = False

    @property
    def message(self) -> str:
        found = f"autoanchor: {self.anchors_per_label:.2f} anchors/label, best possible recall {self.bpr:.4f}"
        if self.new_bpr is None:
            return f"{found}: the cfg's anchors fit"
        shown = ", ".join(f"{w:.0f},{h:.0f}" for w, h in self.anchors)
        if self.replaced:
            return f"{found}; evolved anchors reach {self.new_bpr:.4f} and replace them: {shown}"
        return f"{found}; evolved anchors reach only {self.new_bpr:.4f}: keeping the cfg's"


def label_sizes(shapes: np.ndarray, labels: list[np.ndarray], img_size: int,
                scale: np.ndarray | None = None) -> np.ndarray:
    """Label (w, h) in pixels once each image is resized to `img_size` on its long side.

    shapes [N, 2] original (w, h); labels per image [n, 5] (cls, x, y, w, h normalised);
    `scale` [N, 1] multiplies each image's size (upstream's 0.9-1.1 jitter).
    """
    sizes = img_size * shapes / shapes.max(1, keepdims=True)
    if scale is not None:
        sizes = sizes * scale
    rows = [lb[:, 3:5] * s for s, lb in zip(sizes, labels) if len(lb)]
    return np.concatenate(rows, 0) if rows else np.zeros((0, 2))


def ratio_metric(anchors: np.ndarray, wh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x [labels, anchors], best [labels]): the worse of the w and h ratios (<= 1), and its best anchor."""
    r = wh[:, None] / anchors[None]
    x = np.minimum(r, 1.0 / r).min(2)
    return x, x.max(1) if x.shape[1] else np.zeros(len(wh))


def fit(anchors: np.ndarray, wh: np.ndarray, thr: float) -> tuple[float, float]:
    """(best possible recall, anchors per label above 1/thr) of anchors [n, 2] on label sizes wh."""
    if not len(wh):
        return 1.0, 0.0
    x, best = ratio_metric(np.asarray(anchors, dtype=np.float64), np.asarray(wh, dtype=np.float64))
    return float((best > 1.0 / thr).mean()), float((x > 1.0 / thr).sum(1).mean())


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, restarts: int = 30,
           tol: float = 1e-5) -> np.ndarray:
    """scipy.cluster.vq.kmeans: the lowest-distortion codebook of `restarts` Lloyd runs,
    each started from k distinct points and stopped when the mean distance stops falling."""
    best, best_dist = None, np.inf
    unique = np.unique(points, axis=0)
    if len(unique) < k:
        raise ValueError(f"{len(unique)} distinct label sizes, fewer than the {k} anchors")
    for _ in range(restarts):
        code = unique[rng.choice(len(unique), k, replace=False)]
        prev = np.inf
        while True:
            d = np.linalg.norm(points[:, None] - code[None], axis=2)
            nearest = d.argmin(1)
            dist = float(d.min(1).mean())
            code = np.array([points[nearest == j].mean(0) if (nearest == j).any() else code[j] for j in range(k)])
            if prev - dist <= tol:
                break
            prev = dist
        if dist < best_dist:
            best, best_dist = code, dist
    return best


def evolve_anchors(wh: np.ndarray, n: int, thr: float, rng: np.random.Generator,
                   generations: int = 1000) -> np.ndarray:
    """upstream's kmean_anchors: k-means on whitened sizes, then mutations kept when fitter.

    Fitness is the mean over labels of the best ratio, counting only ratios above 1/thr.
    Labels under 2 px on both sides are left out. Returns [n, 2] sorted by area.
    """
    wh = wh[(wh >= 2.0).any(1)]
    sigma = wh.std(0)
    k = kmeans(wh / sigma, n, rng) * sigma

    def fitness(anchors: np.ndarray) -> float:
        _, best = ratio_metric(anchors, wh)
        return float((best * (best > 1.0 / thr)).mean())

    f, mutation_prob, mutation_sigma = fitness(k), 0.9, 0.1
    for _ in range(generations):
        v = np.ones(k.shape)
        while (v == 1).all():
            v = ((rng.random(k.shape) < mutation_prob) * rng.random() * rng.standard_normal(k.shape)
                 * mutation_sigma + 1).clip(0.3, 3.0)
        candidate = (k * v).clip(min=2.0)
        fc = fitness(candidate)
        if fc > f:
            f, k = fc, candidate
    return k[np.argsort(k.prod(1))]


def set_anchors(head: nn.Module, anchors_px: np.ndarray) -> None:
    """Write [nl*na, 2] pixel anchors (small to large) into a detection head's buffers."""
    a = torch.as_tensor(anchors_px, dtype=head.anchors.dtype, device=head.anchors.device).view_as(head.anchors)
    if (a[-1].prod(-1).mean() - a[0].prod(-1).mean()).sign() != (head.stride[-1] - head.stride[0]).sign():
        a = a.flip(0)  # anchors grow with the stride
    head.anchor_grid[:] = a.view_as(head.anchor_grid)
    head.anchors[:] = a / head.stride.to(a.device).view(-1, 1, 1)


def check_anchors(model: nn.Module, head: nn.Module, shapes: np.ndarray, labels: list[np.ndarray],
                  img_size: int, thr: float, rng: np.random.Generator) -> AnchorReport:
    """Measure the head's anchors on the labels and evolve better ones when BPR < 0.98."""
    scale = rng.uniform(0.9, 1.1, size=(len(shapes), 1))
    wh = label_sizes(shapes, labels, img_size, scale)
    current = head.anchor_grid.detach().cpu().view(-1, 2).double().numpy()
    bpr, aat = fit(current, wh, thr)
    report = AnchorReport(bpr, aat, current)
    if bpr >= BPR_THRESHOLD or len(wh) < len(current):
        return report
    try:
        evolved = evolve_anchors(label_sizes(shapes, labels, img_size), len(current), thr, rng)
    except ValueError:  # too few distinct label sizes to cluster
        return report
    report.new_bpr = fit(evolved, wh, thr)[0]
    if report.new_bpr > bpr:
        set_anchors(head, evolved)
        report.anchors, report.replaced = head.anchor_grid.detach().cpu().view(-1, 2).double().numpy(), True
        cfg = getattr(model, "yaml", None)
        if isinstance(cfg, dict):  # the cfg saved in the checkpoint says the same as its buffers
            per_level = report.anchors.reshape(head.nl, -1)
            cfg["anchors"] = [[round(float(v), 2) for v in level] for level in per_level]
    return report
