"""The pictures a run leaves behind: training curves, PR curve, confusion matrix, labels, batches.

matplotlib runs headless (Agg); every function writes one file and returns nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from y7deploy.train.metrics import xywh2xyxy  # noqa: E402

COLORS = [(255, 56, 56), (72, 249, 10), (0, 24, 236), (255, 178, 29), (207, 210, 49), (26, 147, 52),
          (0, 212, 187), (132, 56, 255), (255, 149, 200), (146, 204, 23)]


def targets_to_rows(targets: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Batch targets (img, cls, xywh normalised) -> rows (img, cls, x1, y1, x2, y2) in pixels."""
    scale = torch.tensor([width, height, width, height], dtype=targets.dtype, device=targets.device)
    return torch.cat((targets[:, :2], xywh2xyxy(targets[:, 2:6] * scale)), 1)


def plot_batch(imgs: torch.Tensor, rows: torch.Tensor, path: Path, names: list[str], max_images: int = 16) -> None:
    """A mosaic of a batch with boxes; rows (img, cls, x1, y1, x2, y2[, conf]) in pixels."""
    import cv2

    imgs = imgs[:max_images].detach().float().cpu()
    if imgs.max() <= 1.0:
        imgs = imgs * 255
    rows = rows.detach().float().cpu()
    n, _, h, w = imgs.shape
    cols = int(np.ceil(np.sqrt(n)))
    grid_rows = int(np.ceil(n / cols))
    canvas = np.full((grid_rows * h, cols * w, 3), 255, np.uint8)
    for i in range(n):
        tile = np.ascontiguousarray(imgs[i].permute(1, 2, 0).numpy().astype(np.uint8))
        for r in rows[rows[:, 0] == i].tolist():
            c = int(r[1])
            color = COLORS[c % len(COLORS)]
            x1, y1, x2, y2 = (int(round(v)) for v in r[2:6])
            cv2.rectangle(tile, (x1, y1), (x2, y2), color, 1)
            label = names[c] if c < len(names) else str(c)
            if len(r) > 6:
                label += f" {r[6]:.2f}"
            cv2.putText(tile, label, (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, color, 1)
        y, x = (i // cols) * h, (i % cols) * w
        canvas[y : y + h, x : x + w] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def plot_results(csv_path: Path, out: Path) -> None:
    """One small plot per column of results.csv, against the epoch."""
    with open(csv_path, newline="") as f:
        table = list(csv.DictReader(f))
    if not table:
        return
    keys = [k for k in table[0] if k != "epoch"]
    epochs = [int(r["epoch"]) for r in table]
    cols = 5
    fig, axes = plt.subplots(int(np.ceil(len(keys) / cols)), cols, figsize=(15, 3 * int(np.ceil(len(keys) / cols))),
                             squeeze=False)
    for ax, key in zip(axes.flat, keys):
        ax.plot(epochs, [float(r[key]) for r in table], marker=".", linewidth=2)
        ax.set_title(key, fontsize=10)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_pr_curve(ap, names: list[str], out: Path) -> None:
    """Precision against recall at IoU 0.5, per class and their mean."""
    fig, ax = plt.subplots(figsize=(8, 6))
    for i, c in enumerate(ap.classes):
        if len(ap.classes) < 21:
            name = names[c] if c < len(names) else str(c)
            ax.plot(ap.px, ap.py[i], linewidth=1, label=f"{name} {ap.ap[i, 0]:.3f}")
    if len(ap.classes):
        ax.plot(ap.px, ap.py.mean(0), linewidth=3, color="blue", label=f"all classes {ap.map50:.3f} mAP@0.5")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(cm, names: list[str], out: Path) -> None:
    """Column-normalised: each true class's share of predictions (last row/column: background)."""
    m = cm.matrix / (cm.matrix.sum(0, keepdims=True) + 1e-9)
    labels = list(names) + ["background"]
    fig, ax = plt.subplots(figsize=(6 + 0.3 * len(labels), 5 + 0.3 * len(labels)))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    if len(labels) < 30:
        for (i, j), v in np.ndenumerate(m):
            if v > 0.005:
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if v > 0.5 else "black")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_labels(labels: np.ndarray, names: list[str], out: Path) -> None:
    """What the training labels look like: count per class, centres and sizes (normalised)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    nc = len(names)
    cls = labels[:, 0].astype(int) if len(labels) else np.zeros(0, int)
    counts = np.bincount(cls, minlength=nc)[:nc]
    axes[0].bar(range(nc), counts, color=[np.array(COLORS[i % len(COLORS)]) / 255 for i in range(nc)])
    axes[0].set_xticks(range(nc), names, rotation=90 if nc > 10 else 0)
    axes[0].set_ylabel("instances")
    if len(labels):
        axes[1].scatter(labels[:, 1], labels[:, 2], s=2, alpha=0.4)
        axes[2].scatter(labels[:, 3], labels[:, 4], s=2, alpha=0.4)
    for ax, (x, y) in zip(axes[1:], (("x", "y"), ("width", "height"))):
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
