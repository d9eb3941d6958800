"""Evaluating a detector on a dataset: the numbers `val` prints and `train` records per epoch.

The metric is upstream test.py's: NMS at conf 0.001 / IoU 0.65 with several labels per box,
boxes and labels mapped back to the original image and clipped to it, test.py's matching
and ap_per_class's 101-point AP (see metrics.py).

One difference on purpose: each image is letterboxed to its own rectangle (what test.py
does at batch size 1), and a batch holds only images of one rectangle. test.py pads every
image of a batch to the batch's widest aspect ratio, so its numbers move with the batch
size when aspect ratios are mixed; these do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import torch
from torch import nn

from y7deploy.train.metrics import (
    IOU_THRESHOLDS,
    APResult,
    ConfusionMatrix,
    ap_per_class,
    fitness,
    match_predictions,
    non_max_suppression,
    xywh2xyxy,
)

if TYPE_CHECKING:
    from y7deploy.train.coco import CocoResult


class DetectionStats:
    """Collects, image by image, what mAP needs; `result()` turns it into an APResult."""

    def __init__(self, nc: int, keep_boxes: bool = False):
        self.nc = nc
        self.boxes: list[tuple] | None = [] if keep_boxes else None  # for COCOeval
        self.confusion = ConfusionMatrix(nc)
        self._tp: list[np.ndarray] = []
        self._conf: list[np.ndarray] = []
        self._pred_cls: list[np.ndarray] = []
        self._target_cls: list[np.ndarray] = []
        self.images = 0

    def add(self, detections: torch.Tensor, labels: torch.Tensor, image_shape: tuple[int, int] = (0, 0)) -> None:
        """detections [n,6] xyxy, conf, cls; labels [m,5] cls, xyxy (same pixels); image (h, w)."""
        self.images += 1
        if self.boxes is not None:
            self.boxes.append((image_shape, detections.detach().cpu().numpy(), labels.cpu().numpy()))
        iouv = IOU_THRESHOLDS.to(detections.device)
        correct = match_predictions(detections, labels, iouv)
        self._tp.append(correct.cpu().numpy())
        self._conf.append(detections[:, 4].detach().cpu().numpy())
        self._pred_cls.append(detections[:, 5].detach().cpu().numpy())
        self._target_cls.append(labels[:, 0].cpu().numpy())
        self.confusion.update(detections.detach(), labels)

    def result(self) -> APResult:
        if not self._tp:
            return ap_per_class(np.zeros((0, 10), bool), np.zeros(0), np.zeros(0), np.zeros(0))
        return ap_per_class(
            np.concatenate(self._tp), np.concatenate(self._conf),
            np.concatenate(self._pred_cls), np.concatenate(self._target_cls),
        )


@dataclass
class ValResult:
    ap: APResult
    names: list[str]
    confusion: ConfusionMatrix
    images: int
    labels: int
    loss: list[float]  # box, obj, cls on the val set (zeros when no loss was given)
    ms_per_image: float
    coco: "CocoResult | None" = None  # COCOeval's numbers, when asked for

    @property
    def map50(self) -> float:
        return self.ap.map50

    @property
    def map(self) -> float:
        return self.ap.map

    @property
    def fitness(self) -> float:
        return fitness(self.ap.map50, self.ap.map)

    def table(self) -> str:
        """One line for all classes, then one per class, like upstream's test.py."""
        head = f"{'Class':>14}{'Images':>9}{'Labels':>9}{'P':>9}{'R':>9}{'mAP@.5':>9}{'mAP@.5:.95':>12}"
        rows = [head, self._row("all", self.images, self.labels, self.ap.mp, self.ap.mr, self.map50, self.map)]
        for i, c in enumerate(self.ap.classes):
            name = self.names[c] if c < len(self.names) else str(c)
            rows.append(self._row(name, self.images, int(self.ap.n_labels[i]), self.ap.p[i], self.ap.r[i],
                                  self.ap.ap[i, 0], self.ap.ap[i].mean()))
        return "\n".join(rows)

    @staticmethod
    def _row(name, images, labels, p, r, m50, m) -> str:
        return f"{name:>14}{images:>9}{labels:>9}{p:>9.3f}{r:>9.3f}{m50:>9.3f}{m:>12.3f}"


def labels_to_pixels(targets: torch.Tensor, image_index: int, height: int, width: int) -> torch.Tensor:
    """Rows of one image from batch targets [n,6] (img, cls, xywh normalised) -> [m,5] cls, xyxy px."""
    t = targets[targets[:, 0] == image_index]
    scale = torch.tensor([width, height, width, height], device=t.device, dtype=t.dtype)
    return torch.cat((t[:, 1:2], xywh2xyxy(t[:, 2:6] * scale)), 1)


def to_original(boxes: torch.Tensor, shapes) -> torch.Tensor:
    """xyxy in letterboxed pixels -> the original image's pixels, clipped to it (in place).

    `shapes` is the loader's ((h0, w0), ((gain_h, gain_w), (pad_w, pad_h))); None (a
    mosaic) leaves the boxes as they are.
    """
    if shapes is None:
        return boxes
    (h0, w0), ((gain, _), (pad_w, pad_h)) = shapes
    boxes[:, [0, 2]] -= pad_w
    boxes[:, [1, 3]] -= pad_h
    boxes[:, :4] /= gain
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(0, w0)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(0, h0)
    return boxes


def same_shape_batches(batch_of: np.ndarray, batch_shapes: np.ndarray, batch_size: int) -> list[list[int]]:
    """Consecutive runs of images whose letterbox rectangle is the same, cut at batch_size."""
    batches: list[list[int]] = []
    last = None
    for index, b in enumerate(batch_of):
        shape = tuple(batch_shapes[b])
        if shape != last or len(batches[-1]) >= batch_size:
            batches.append([])
            last = shape
        batches[-1].append(index)
    return batches


def create_val_loader(paths, img_size: int, batch_size: int, stride: int, workers: int = 0,
                      nc: int | None = None):
    """(loader, dataset) over the val images: each its own rectangle, batches of one rectangle."""
    from torch.utils.data import DataLoader

    from y7deploy.data.dataset import YoloDataset, collate_fn

    # rect with a batch of one: every image gets test.py's rectangle for itself
    dataset = YoloDataset(paths, img_size, 1, stride, augment=False, rect=True, pad=0.5, nc=nc)
    batches = same_shape_batches(dataset.batch, dataset.batch_shapes, max(batch_size, 1))
    workers = max(0, min(workers, len(batches) - 1))
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_fn,
                        persistent_workers=workers > 0)
    return loader, dataset


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable,
    names: list[str],
    device: torch.device,
    conf_thres: float = 0.001,
    iou_thres: float = 0.65,
    compute_loss: Callable | None = None,
    half: bool = False,
    plots_dir: Path | None = None,
    coco: bool = False,
) -> ValResult:
    """Run the model over (imgs uint8, targets, paths, shapes) batches and score it."""
    import time

    was_training = model.training
    model.eval()
    stats = DetectionStats(len(names), keep_boxes=coco)
    loss = torch.zeros(3, device=device)
    elapsed, n_labels = 0.0, 0
    for bi, (imgs, targets, _paths, shapes) in enumerate(batches):
        imgs = imgs.to(device, non_blocking=True)
        imgs = (imgs.half() if half else imgs.float()) / 255.0
        targets = targets.to(device)
        _, _, h, w = imgs.shape
        t0 = time.perf_counter()
        pred, raw = model(imgs)
        elapsed += time.perf_counter() - t0
        if compute_loss is not None:
            loss += compute_loss([x.float() for x in raw], targets, imgs)[1][:3]
        dets = non_max_suppression(pred.float(), conf_thres, iou_thres, multi_label=True)
        for si, det in enumerate(dets):
            labels = labels_to_pixels(targets, si, h, w)
            n_labels += labels.shape[0]
            native = det.clone()
            to_original(native[:, :4], shapes[si])
            to_original(labels[:, 1:5], shapes[si])
            stats.add(native, labels, shapes[si][0] if shapes[si] is not None else (h, w))
        if plots_dir is not None and bi < 2:
            from y7deploy.train.plots import plot_batch, targets_to_rows

            plot_batch(imgs, targets_to_rows(targets, h, w), plots_dir / f"val_batch{bi}_labels.jpg", names)
            plot_batch(imgs, dets_to_targets(dets), plots_dir / f"val_batch{bi}_pred.jpg", names)
    if was_training:
        model.train()
    ap = stats.result()
    nb = max(bi + 1, 1) if stats.images else 1
    result = ValResult(ap, list(names), stats.confusion, stats.images, n_labels,
                       (loss / nb).tolist(), 1000 * elapsed / max(stats.images, 1))
    if coco:
        from y7deploy.train.coco import coco_evaluate

        result.coco = coco_evaluate(stats.boxes, len(names))
    if plots_dir is not None:
        from y7deploy.train.plots import plot_confusion_matrix, plot_pr_curve

        plot_pr_curve(ap, names, plots_dir / "PR_curve.png")
        plot_confusion_matrix(stats.confusion, names, plots_dir / "confusion_matrix.png")
    return result


def dets_to_targets(dets: list[torch.Tensor]) -> torch.Tensor:
    """NMS output per image -> rows (img, cls, x1, y1, x2, y2, conf) for drawing."""
    rows = [torch.cat((torch.full_like(d[:, :1], i), d[:, 5:6], d[:, :4], d[:, 4:5]), 1) for i, d in enumerate(dets)]
    return torch.cat(rows) if rows else torch.zeros((0, 7))


def validate(data_yaml: str, weights: str, img_size: int = 640, batch_size: int = 32, device: str = "",
             conf_thres: float = 0.001, iou_thres: float = 0.65, workers: int = 2, coco: bool = False) -> ValResult:
    """`y7deploy val`: load a checkpoint and score it on the data yaml's val split."""
    from y7deploy.data.config import load_data_config
    from y7deploy.data.dataset import check_img_size
    from y7deploy.errors import UserError
    from y7deploy.train.checkpoints import load_model
    from y7deploy.train.device import select_device

    check_img_size(img_size)
    data = load_data_config(data_yaml)
    dev = select_device(device)
    model, names = load_model(weights)
    if len(names) != data.nc:
        raise UserError(f"{weights} predicts {len(names)} classes but {data_yaml} has nc {data.nc}")
    model = model.float().to(dev).eval()
    stride = max(int(model.model[-1].stride.max()), 32)
    check_img_size(img_size, stride)
    loader, _ = create_val_loader(list(data.val), img_size, batch_size, stride, workers=workers, nc=data.nc)
    return evaluate(model, loader, list(data.names), dev, conf_thres=conf_thres, iou_thres=iou_thres, coco=coco)
