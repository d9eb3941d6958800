"""A contact sheet of labelled images, to eyeball that boxes sit on their objects."""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np

from y7deploy.data.augment import letterbox, xywhn_to_xyxy
from y7deploy.data.checks import scan_images
from y7deploy.data.config import DataConfig
from y7deploy.errors import UserError


def class_colour(cls: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class (golden-angle hues)."""
    hue = int((cls * 137.508) % 180)
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(v) for v in bgr)


def write_preview(config: DataConfig, out: str | Path, split: str = "train", count: int = 16,
                  tile: int = 320, seed: int = 0) -> Path:
    """Draw up to `count` images of `split` (a seeded sample) with boxes and names; write a PNG."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"preview must be a .png file, got {out}")
    images = config.images(split)
    picked = sorted(random.Random(seed).sample(range(len(images)), min(count, len(images))))
    scan = scan_images([images[i] for i in picked], nc=config.nc, check_orphans=False)
    if not scan.entries:
        raise UserError(f"{config.path}: no readable images in {split}")
    tiles = [_tile(e.image, e.labels, config.names, tile) for e in scan.entries]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for k, img in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = img
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise UserError(f"cannot write {out}")
    return out


def _tile(image: Path, labels: np.ndarray, names: tuple[str, ...], size: int) -> np.ndarray:
    img = cv2.imread(str(image))
    h, w = img.shape[:2]
    img, ratio, pad = letterbox(img, size, scaleup=True)
    boxes = xywhn_to_xyxy(labels, ratio[0] * w, ratio[1] * h, pad[0], pad[1])
    for cls, x1, y1, x2, y2 in boxes:
        colour = class_colour(int(cls))
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
        text = names[int(cls)]
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        ty = int(y1) - 3 if y1 > th + 4 else int(y1) + th + 3
        cv2.rectangle(img, (int(x1), ty - th - 2), (int(x1) + tw + 2, ty + 2), colour, -1)
        cv2.putText(img, text, (int(x1) + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, image.name, (4, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img
