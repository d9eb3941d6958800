"""Image augmentations that move boxes with the pixels (YOLOv7's set).

Images are HxWx3 uint8 BGR (cv2's order). Labels inside this module are pixel boxes,
an [n,5] float array of (class, x1, y1, x2, y2), except the flips, which work on
normalised (class, x, y, w, h) as the loader has them at that point. Every random
choice comes from the `rng` argument, so a seed reproduces an augmented batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # grey of letterbox borders and empty mosaic areas, as upstream


def xywhn_to_xyxy(labels: np.ndarray, w: float, h: float, padw: float = 0.0, padh: float = 0.0) -> np.ndarray:
    """Normalised (cls,x,y,w,h) -> pixel (cls,x1,y1,x2,y2) in an image of w x h placed at (padw, padh)."""
    out = labels.astype(np.float32, copy=True)
    out[:, 1] = w * (labels[:, 1] - labels[:, 3] / 2) + padw
    out[:, 2] = h * (labels[:, 2] - labels[:, 4] / 2) + padh
    out[:, 3] = w * (labels[:, 1] + labels[:, 3] / 2) + padw
    out[:, 4] = h * (labels[:, 2] + labels[:, 4] / 2) + padh
    return out


def xyxy_to_xywhn(labels: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixel (cls,x1,y1,x2,y2) -> normalised (cls,x,y,w,h) for an image of w x h."""
    out = labels.astype(np.float32, copy=True)
    out[:, 1] = (labels[:, 1] + labels[:, 3]) / 2 / w
    out[:, 2] = (labels[:, 2] + labels[:, 4]) / 2 / h
    out[:, 3] = (labels[:, 3] - labels[:, 1]) / w
    out[:, 4] = (labels[:, 4] - labels[:, 2]) / h
    return out


def letterbox(img: np.ndarray, new_shape: int | tuple[int, int] = 640, color=(PAD_VALUE,) * 3,
              auto: bool = False, scaleup: bool = True, stride: int = 32):
    """Resize keeping the aspect ratio, then pad to `new_shape` (h, w).

    Returns the image, the (w, h) scale ratio and the (left, top) padding as floats,
    which is what a box needs to follow: x' = x * ratio + pad.
    """
    shape = img.shape[:2]
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:  # smallest rectangle that is a stride multiple
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (shape[1], shape[0]) != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    # the ratio actually applied per axis, so boxes land on the resized pixels exactly
    ratio = new_unpad[0] / shape[1], new_unpad[1] / shape[0]
    return img, ratio, (float(left), float(top))


def augment_hsv(img: np.ndarray, rng: np.random.Generator, hgain: float = 0.5, sgain: float = 0.5,
                vgain: float = 0.5) -> None:
    """Random hue/saturation/value gains, in place; geometry (and so labels) unchanged."""
    if not (hgain or sgain or vgain):
        return
    r = rng.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
    x = np.arange(0, 256, dtype=np.int16)
    lut_hue = ((x * r[0]) % 180).astype(np.uint8)
    lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=img)


def random_perspective(img: np.ndarray, targets: np.ndarray, rng: np.random.Generator,
                       degrees: float = 10, translate: float = 0.1, scale: float = 0.1, shear: float = 10,
                       perspective: float = 0.0, border: tuple[int, int] = (0, 0)):
    """Rotate, scale, shear, translate and tilt the image, and warp the boxes with it.

    A negative `border` crops (the mosaic's 2s canvas back to s). Each box becomes the
    enclosing box of its four warped corners, clipped to the image, and is dropped when
    too little of it survives (`box_candidates`).
    """
    height = img.shape[0] + border[0] * 2
    width = img.shape[1] + border[1] * 2

    C = np.eye(3)  # move the image centre to the origin
    C[0, 2] = -img.shape[1] / 2
    C[1, 2] = -img.shape[0] / 2
    P = np.eye(3)
    P[2, 0] = rng.uniform(-perspective, perspective)
    P[2, 1] = rng.uniform(-perspective, perspective)
    R = np.eye(3)
    a = rng.uniform(-degrees, degrees)
    s = rng.uniform(1 - scale, 1.1 + scale)
    R[:2] = cv2.getRotationMatrix2D(angle=a, center=(0, 0), scale=s)
    S = np.eye(3)
    S[0, 1] = math.tan(rng.uniform(-shear, shear) * math.pi / 180)
    S[1, 0] = math.tan(rng.uniform(-shear, shear) * math.pi / 180)
    T = np.eye(3)  # and back, to a random spot around the centre of the output
    T[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * width
    T[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * height
    M = T @ S @ R @ P @ C  # applied right to left

    if border != (0, 0) or (M != np.eye(3)).any():
        if perspective:
            img = cv2.warpPerspective(img, M, dsize=(width, height), borderValue=(PAD_VALUE,) * 3)
        else:
            img = cv2.warpAffine(img, M[:2], dsize=(width, height), borderValue=(PAD_VALUE,) * 3)

    n = len(targets)
    if n:
        xy = np.ones((n * 4, 3))
        xy[:, :2] = targets[:, [1, 2, 3, 4, 1, 4, 3, 2]].reshape(n * 4, 2)  # the four corners
        xy = xy @ M.T
        xy = (xy[:, :2] / xy[:, 2:3] if perspective else xy[:, :2]).reshape(n, 8)
        x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
        new = np.stack((x.min(1), y.min(1), x.max(1), y.max(1)), axis=1)
        new[:, [0, 2]] = new[:, [0, 2]].clip(0, width)
        new[:, [1, 3]] = new[:, [1, 3]].clip(0, height)
        keep = box_candidates(targets[:, 1:5].T * s, new.T)
        targets = targets[keep].copy()
        targets[:, 1:5] = new[keep]
    return img, targets


def box_candidates(box1: np.ndarray, box2: np.ndarray, wh_thr: float = 2, ar_thr: float = 20,
                   area_thr: float = 0.1, eps: float = 1e-16) -> np.ndarray:
    """Boxes worth keeping after a transform: wider and taller than `wh_thr` pixels, not
    thinner than 1:`ar_thr`, and keeping `area_thr` of their (scaled) area. Inputs are (4,n)."""
    w1, h1 = box1[2] - box1[0], box1[3] - box1[1]
    w2, h2 = box2[2] - box2[0], box2[3] - box2[1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def mosaic(tiles: list[tuple[np.ndarray, np.ndarray]], size: int, rng: np.random.Generator):
    """Four images around a random centre on a 2*size canvas.

    `tiles` are four (image, normalised labels) pairs, each image already resized so its
    long side is `size`. Returns the canvas and its pixel boxes, clipped to the canvas;
    the caller crops it back to `size` with `random_perspective(..., border=(-size//2,)*2)`.
    """
    s = size
    border = s // 2
    yc, xc = (int(rng.uniform(border, 2 * s - border)) for _ in range(2))
    canvas = np.full((s * 2, s * 2, 3), PAD_VALUE, dtype=np.uint8)
    all_labels = []
    for i, (img, labels) in enumerate(tiles):
        h, w = img.shape[:2]
        if i == 0:  # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif i == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, s * 2), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif i == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(s * 2, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:  # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, s * 2), min(s * 2, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        all_labels.append(xywhn_to_xyxy(labels, w, h, x1a - x1b, y1a - y1b))
        # parts of a tile outside its quadrant are cut off: clip its boxes to what is visible
        visible = all_labels[-1]
        visible[:, [1, 3]] = visible[:, [1, 3]].clip(x1a, x2a)
        visible[:, [2, 4]] = visible[:, [2, 4]].clip(y1a, y2a)
    labels4 = np.concatenate(all_labels, 0) if all_labels else np.zeros((0, 5), np.float32)
    area = (labels4[:, 3] - labels4[:, 1]) * (labels4[:, 4] - labels4[:, 2])
    return canvas, labels4[area > 0]


# Upstream's loader builds a 9-image mosaic instead of a 4-image one a fifth of the time
# (utils/datasets.py: `load_mosaic if random.random() < 0.8 else load_mosaic9`), for the
# mosaic itself and for the second image of a mixup.
MOSAIC4_SHARE = 0.8


def mosaic_size(rng: np.random.Generator) -> int:
    """How many images the next mosaic holds: 4, or 9 with probability 1 - MOSAIC4_SHARE."""
    return 4 if rng.random() < MOSAIC4_SHARE else 9


def mosaic9(tiles: list[tuple[np.ndarray, np.ndarray]], size: int, rng: np.random.Generator):
    """Nine images around the first one, then a random 2*size window of them.

    `tiles` are nine (image, normalised labels) pairs, each image already resized so its
    long side is `size`. The first sits at (size, size) of a 3*size canvas; the others go
    around it clockwise from the top, each against its neighbour (upstream's load_mosaic9
    layout). Returns the window and its pixel boxes clipped to it; the caller crops it to
    `size` with `random_perspective(..., border=(-size//2,)*2)`, as for `mosaic`.
    """
    s = size
    canvas = np.full((s * 3, s * 3, 3), PAD_VALUE, dtype=np.uint8)
    h0, w0 = tiles[0][0].shape[:2]
    hp = wp = 0  # the previous tile's size
    placed = []
    for i, (img, labels) in enumerate(tiles):
        h, w = img.shape[:2]
        x, y = _mosaic9_corner(i, s, w, h, w0, h0, wp, hp)
        xa, ya = max(x, 0), max(y, 0)  # a tile may stick out of the canvas at the left or top
        canvas[ya:y + h, xa:x + w] = img[ya - y:, xa - x:]
        placed.append(xywhn_to_xyxy(labels, w, h, x, y))
        hp, wp = h, w
    yc, xc = (int(rng.uniform(0, s)) for _ in range(2))
    window = canvas[yc:yc + 2 * s, xc:xc + 2 * s]
    labels9 = np.concatenate(placed, 0)
    labels9[:, [1, 3]] = (labels9[:, [1, 3]] - xc).clip(0, 2 * s)
    labels9[:, [2, 4]] = (labels9[:, [2, 4]] - yc).clip(0, 2 * s)
    area = (labels9[:, 3] - labels9[:, 1]) * (labels9[:, 4] - labels9[:, 2])
    return window, labels9[area > 0]


def _mosaic9_corner(i: int, s: int, w: int, h: int, w0: int, h0: int, wp: int, hp: int) -> tuple[int, int]:
    """Top-left corner of tile i (w x h) in the 3s canvas; tile 0 is w0 x h0, the previous wp x hp."""
    return [
        (s, s),                       # centre
        (s, s - h),                   # top
        (s + wp, s - h),              # top right
        (s + w0, s),                  # right
        (s + w0, s + hp),             # bottom right
        (s + w0 - w, s + h0),         # bottom
        (s + w0 - wp - w, s + h0),    # bottom left
        (s - w, s + h0 - h),          # left
        (s - w, s + h0 - hp - h),     # top left
    ][i]


@dataclass
class PasteSample:
    """An object cut out for paste-in: its class, its pixels and where they count (mask > 0)."""

    cls: float
    image: np.ndarray
    mask: np.ndarray


def cut_objects(img: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                fraction: float = 0.5) -> list[PasteSample]:
    """Cut a random `fraction` of the objects (pixel cls,x1,y1,x2,y2) out of `img`.

    Upstream (sample_segments) cuts objects along their polygon segments; YOLO 1.1
    labels are boxes, so an object here is its box, whole.
    """
    n = len(labels)
    samples: list[PasteSample] = []
    if not n or not fraction:
        return samples
    h, w = img.shape[:2]
    for j in rng.choice(n, size=round(fraction * n), replace=False):
        cls, x1, y1, x2, y2 = labels[j]
        x1, x2 = (int(min(max(v, 0), w - 1)) for v in (x1, x2))
        y1, y2 = (int(min(max(v, 0), h - 1)) for v in (y1, y2))
        if x2 <= x1 or y2 <= y1:
            continue
        crop = img[y1:y2, x1:x2].copy()
        samples.append(PasteSample(float(cls), crop, np.full_like(crop, 255)))
    return samples


# paste-in tries one spot per entry: the spot's size as a fraction of the image (upstream's list)
PASTE_SCALES = (0.75,) * 2 + (0.5,) * 4 + (0.25,) * 4 + (0.125,) * 4 + (0.0625,) * 6


def paste_in(img: np.ndarray, labels: np.ndarray, samples: list[PasteSample],
             rng: np.random.Generator) -> np.ndarray:
    """Paste objects from `samples` into free spots of `img` (in place); returns the labels
    (pixel cls,x1,y1,x2,y2) with a box for every object pasted.

    As upstream's pastein: for each of PASTE_SCALES, skipped one time in five, a random
    spot of up to that fraction of the image; it is used when it covers under 30% of every
    box already there and is over 20 pixels each way. A random sample is scaled into it
    (aspect kept) and pasted if it is over 10 pixels each way and its mask over 20 pixels.
    """
    h, w = img.shape[:2]
    labels = labels.reshape(-1, 5)
    for scale in PASTE_SCALES:
        if rng.random() < 0.2:
            continue
        spot_h = int(rng.integers(1, int(h * scale) + 1))
        spot_w = int(rng.integers(1, int(w * scale) + 1))
        xmin = max(0, int(rng.integers(0, w + 1)) - spot_w // 2)
        ymin = max(0, int(rng.integers(0, h + 1)) - spot_h // 2)
        xmax, ymax = min(w, xmin + spot_w), min(h, ymin + spot_h)
        spot = np.array([xmin, ymin, xmax, ymax], dtype=np.float32)
        covered = bbox_ioa(spot, labels[:, 1:5]) if len(labels) else np.zeros(1)
        if not ((covered < 0.30).all() and samples and xmax > xmin + 20 and ymax > ymin + 20):
            continue
        sample = samples[int(rng.integers(0, len(samples)))]
        hs, ws = sample.image.shape[:2]
        r = min((ymax - ymin) / hs, (xmax - xmin) / ws)
        rw, rh = int(ws * r), int(hs * r)
        if rw <= 10 or rh <= 10:
            continue
        mask = cv2.resize(sample.mask, (rw, rh)) > 0
        if mask.sum() <= 60:  # counted per channel, as upstream: over 20 pixels
            continue
        target = img[ymin:ymin + rh, xmin:xmin + rw]
        target[mask] = cv2.resize(sample.image, (rw, rh))[mask]
        box = [sample.cls, xmin, ymin, xmin + rw, ymin + rh]
        labels = np.concatenate((labels, np.array([box], dtype=labels.dtype)), 0)
    return labels


def bbox_ioa(box: np.ndarray, boxes: np.ndarray, eps: float = 1e-16) -> np.ndarray:
    """The share of each of `boxes` (n,4 xyxy) that `box` (4, xyxy) covers."""
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    return iw * ih / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + eps)


def mixup(img: np.ndarray, labels: np.ndarray, img2: np.ndarray, labels2: np.ndarray,
          rng: np.random.Generator):
    """Blend two same-sized images (ratio ~ Beta(8, 8)) and keep the boxes of both."""
    r = rng.beta(8.0, 8.0)
    blended = (img * r + img2 * (1 - r)).astype(np.uint8)
    return blended, np.concatenate((labels, labels2), 0)


def flip_lr(img: np.ndarray, labels: np.ndarray):
    """Mirror left-right; labels are normalised (cls, x, y, w, h)."""
    labels = labels.copy()
    labels[:, 1] = 1 - labels[:, 1]
    return np.ascontiguousarray(np.fliplr(img)), labels


def flip_ud(img: np.ndarray, labels: np.ndarray):
    """Mirror up-down; labels are normalised (cls, x, y, w, h)."""
    labels = labels.copy()
    labels[:, 2] = 1 - labels[:, 2]
    return np.ascontiguousarray(np.flipud(img)), labels
