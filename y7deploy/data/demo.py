"""The built-in demo dataset: coloured shapes, written as a CVAT "YOLO 1.1" export.

It exists so the demo and the tests run offline, and it is deliberately easy to learn
(1-4 large, high-contrast, non-overlapping shapes per image), so a few CPU epochs of
yolov7-tiny reach a high mAP. Same arguments, same bytes: every random choice comes
from one seeded generator and the zip entries carry a fixed timestamp.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np

NAMES = ("circle", "square", "triangle")
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def write_demo_dataset(zip_path: str | Path, n_images: int = 300, img_size: int = 320,
                       seed: int = 0) -> Path:
    """Write the demo set as a CVAT YOLO 1.1 zip and return its path."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"obj_train_data/demo_{i:06d}" for i in range(n_images)]
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "obj.names", "".join(f"{n}\n" for n in NAMES))
        _add(zf, "obj.data", f"classes = {len(NAMES)}\ntrain = data/train.txt\n"
                             "names = data/obj.names\nbackup = backup/\n")
        _add(zf, "train.txt", "".join(f"data/{n}.jpg\n" for n in names))
        for name in names:
            img, labels = demo_image(rng, img_size)
            ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            assert ok
            _add(zf, f"{name}.jpg", jpg.tobytes(), compress=False)
            _add(zf, f"{name}.txt", "".join(
                f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels))
    tmp.replace(zip_path)
    return zip_path


def _add(zf: zipfile.ZipFile, name: str, data: str | bytes, compress: bool = True) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def demo_image(rng: np.random.Generator, img_size: int = 320) -> tuple[np.ndarray, list[tuple]]:
    """One BGR image and its labels [(class, x, y, w, h) normalised].

    A quarter of the images are 4:3 landscape, so letterboxing is exercised too.
    """
    h = img_size * 3 // 4 if rng.random() < 0.25 else img_size
    w = img_size
    img = _background(rng, h, w)
    luminance = float(img.mean())
    boxes: list[tuple[int, int, int, int]] = []
    labels = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(30):
            cls = int(rng.integers(0, len(NAMES)))
            side = int(rng.uniform(0.16, 0.36) * min(h, w))
            x1 = int(rng.integers(2, w - side - 2))
            y1 = int(rng.integers(2, h - side - 2))
            box = (x1, y1, x1 + side, y1 + side)
            if all(_apart(box, other, margin=4) for other in boxes):
                break
        else:
            continue
        mask = np.zeros((h, w), np.uint8)
        _draw_shape(mask, cls, box, 255)
        ys, xs = np.nonzero(mask)
        img[mask > 0] = _contrasting_colour(rng, luminance)
        bx1, by1, bx2, by2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1  # pixel edges
        boxes.append(box)
        labels.append((cls, (bx1 + bx2) / 2 / w, (by1 + by2) / 2 / h, (bx2 - bx1) / w, (by2 - by1) / h))
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8), labels


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Solid, gradient, stripes or blotchy texture; mid-to-extreme brightness, low contrast."""
    kind = int(rng.integers(0, 4))
    base = rng.uniform(20, 235)
    c1 = np.clip(base + rng.uniform(-20, 20, 3), 0, 255)
    c2 = np.clip(base + rng.uniform(-25, 25, 3), 0, 255)
    img = np.empty((h, w, 3), np.float64)
    if kind == 0:
        img[:] = c1
    elif kind == 1:
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h)
        ramp = t[None, :, None] if len(t) == w else t[:, None, None]
        img[:] = c1 * (1 - ramp) + c2 * ramp
    elif kind == 2:
        period = int(rng.integers(12, 40))
        stripes = ((np.arange(w) // period) % 2).astype(np.float64)[None, :, None]
        img[:] = c1 * (1 - stripes) + c2 * stripes
    else:
        small = rng.uniform(-1, 1, (h // 16 + 1, w // 16 + 1))
        blotch = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
        img[:] = c1 + blotch * 20
    return img


def _contrasting_colour(rng: np.random.Generator, luminance: float) -> np.ndarray:
    """A saturated colour far from the background's brightness."""
    colour = rng.uniform(0, 80, 3)
    colour[int(rng.integers(0, 3))] = rng.uniform(150, 255)
    if luminance < 128:
        colour = np.clip(colour + 140, 0, 255)  # bright on dark
    else:
        colour = colour * 0.35  # dark on bright
    return colour


def _draw_shape(canvas: np.ndarray, cls: int, box: tuple[int, int, int, int], value: int) -> None:
    x1, y1, x2, y2 = box
    if NAMES[cls] == "circle":
        r = (x2 - x1) // 2
        cv2.circle(canvas, (x1 + r, y1 + r), r, value, thickness=-1)
    elif NAMES[cls] == "square":
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), value, thickness=-1)
    else:
        pts = np.array([[(x1 + x2) // 2, y1], [x1, y2 - 1], [x2 - 1, y2 - 1]], np.int32)
        cv2.fillPoly(canvas, [pts], value)


def _apart(a, b, margin: int) -> bool:
    return a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1]
