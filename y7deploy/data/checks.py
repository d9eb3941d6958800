"""Label and image checks shared by import, `dataset check` and the loader.

A problem names its file and line. Callers choose what a problem means: the default
drops the bad line (or image) and summarises; strict mode turns the first problems
into a UserError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from y7deploy.data.files import label_path, orphan_labels
from y7deploy.errors import UserError

# Coordinates may stray this far outside [0, 1] (rounding in exporters); they are clipped.
TOLERANCE = 0.01

# The kinds of problem that leave a whole image out (a problem's message starts with its kind).
UNREADABLE_IMAGE = "unreadable image"
NO_LABEL_FILE = "no label file"
UNREADABLE_LABELS = "unreadable label file"
ORPHAN_LABEL = "label without image: no image has this name"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a dataset; `line` is 1-based, None when the whole file is meant."""

    file: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        return f"{where}: {self.message}"


@dataclass
class ImageEntry:
    """An image that can be read, with its cleaned labels ([n,5] cls,x,y,w,h normalised)."""

    image: Path
    label: Path | None  # None: no label file (a background image)
    labels: np.ndarray
    shape: tuple[int, int]  # (height, width) of the original image


@dataclass
class ScanResult:
    entries: list[ImageEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def raise_if_any(self, limit: int = 5) -> None:
        """Strict mode: fail naming the first problems."""
        if self.problems:
            shown = "; ".join(str(p) for p in self.problems[:limit])
            more = f" (and {len(self.problems) - limit} more)" if len(self.problems) > limit else ""
            raise UserError(f"{len(self.problems)} dataset problem(s): {shown}{more}")

    def summary(self, problems: list[Problem] | None = None) -> str:
        """One line per kind of problem (of `problems`, default all), with a count and the first example."""
        problems = self.problems if problems is None else problems
        kinds = Counter(_kind(p.message) for p in problems)
        first: dict[str, Problem] = {}
        for p in problems:
            first.setdefault(_kind(p.message), p)
        return "\n".join(f"{n} x {kind} (first: {first[kind]})" for kind, n in kinds.items())


def _kind(message: str) -> str:
    return message.split(":")[0]


def parse_labels(path: Path, nc: int | None = None) -> tuple[np.ndarray, list[Problem]]:
    """Read a YOLO label file, keeping good lines and naming every bad one.

    Returns an [n,5] float32 array (class, x, y, w, h; normalised, clipped into the
    image) and the problems of the dropped lines.
    """
    problems: list[Problem] = []
    rows: list[list[float]] = []
    seen: dict[tuple, int] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return np.zeros((0, 5), np.float32), [Problem(path, None, f"{UNREADABLE_LABELS}: {exc}")]
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        row, problem = _parse_line(fields, nc)
        if problem:
            problems.append(Problem(path, number, problem))
            continue
        key = tuple(np.round(row, 6))
        if key in seen:
            problems.append(Problem(path, number, f"duplicate box: same as line {seen[key]}"))
            continue
        seen[key] = number
        rows.append(row)
    labels = np.array(rows, np.float32).reshape(-1, 5)
    return labels, problems


def _parse_line(fields: list[str], nc: int | None) -> tuple[list[float], str | None]:
    if len(fields) != 5:
        return [], f"wrong field count: expected 5 (class x y w h), got {len(fields)}"
    try:
        values = [float(f) for f in fields]
    except ValueError:
        return [], f"not a number: {' '.join(fields)!r}"
    cls, x, y, w, h = values
    if not np.isfinite(values).all():
        return [], f"not a number: {' '.join(fields)!r}"
    if cls != int(cls) or cls < 0 or (nc is not None and cls >= nc):
        limit = f"0..{nc - 1}" if nc else "a non-negative integer"
        return [], f"class index out of range: {fields[0]} (must be {limit})"
    lo, hi = -TOLERANCE, 1 + TOLERANCE
    if not all(lo <= v <= hi for v in (x, y, w, h)):
        return [], f"coordinates outside [0,1]: {' '.join(fields[1:])}"
    x1, y1, x2, y2 = x - w / 2, y - h / 2, x + w / 2, y + h / 2
    if min(x1, y1) < lo or max(x2, y2) > hi:
        return [], f"box extends outside the image: {' '.join(fields[1:])}"
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in (x1, y1, x2, y2))
    if x2 - x1 <= 1e-6 or y2 - y1 <= 1e-6:
        return [], f"zero-area box: {' '.join(fields[1:])}"
    return [cls, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], None


def read_image_shape(path: Path) -> tuple[int, int] | None:
    """(height, width) of a fully decodable image, None if it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None
    return img.shape[:2]


def scan_images(images: list[Path], nc: int | None = None, check_orphans: bool = True,
                read_shape: Callable[[Path], tuple[int, int] | None] = read_image_shape,
                require_labels: bool = False) -> ScanResult:
    """Check every image and its label; readable images with their good lines become entries.

    `read_shape` decodes each image by default; the loader passes a header-only reader.
    An image without a label file is a background image, or, with `require_labels`
    (CVAT writes a label file for every image, empty or not), a problem and skipped.
    """
    result = ScanResult()
    for image in images:
        shape = read_shape(image)
        if shape is None:
            result.problems.append(Problem(image, None, f"{UNREADABLE_IMAGE}: cannot be decoded"))
            continue
        lp = label_path(image)
        if require_labels and not lp.is_file():
            result.problems.append(Problem(image, None, f"{NO_LABEL_FILE}: expected {lp.name} beside it"))
            continue
        if lp.is_file():
            labels, problems = parse_labels(lp, nc)
            result.problems.extend(problems)
            if problems and problems[0].message.startswith(UNREADABLE_LABELS):
                continue  # its boxes are unknown: training on it as a background image would teach misses
            result.entries.append(ImageEntry(image, lp, labels, shape))
        else:
            result.entries.append(ImageEntry(image, None, np.zeros((0, 5), np.float32), shape))
    if check_orphans:
        for orphan in orphan_labels(images):
            result.problems.append(Problem(orphan, None, ORPHAN_LABEL))
    return result


@dataclass
class SplitStats:
    """What `dataset check` tabulates for one split."""

    images: int
    empty_images: int  # readable images without boxes (background)
    boxes_per_class: list[int]
    small: int  # boxes under 32x32 pixels of the original image (COCO's sizes)
    medium: int  # up to 96x96
    large: int
    median_wh: tuple[float, float]  # median box width and height, in pixels


def split_stats(scan: ScanResult, nc: int) -> SplitStats:
    per_class = [0] * nc
    widths, heights = [], []
    for e in scan.entries:
        for cls, _x, _y, w, h in e.labels:
            if int(cls) < nc:
                per_class[int(cls)] += 1
            widths.append(w * e.shape[1])
            heights.append(h * e.shape[0])
    area = np.array(widths) * np.array(heights)
    median = (float(np.median(widths)), float(np.median(heights))) if widths else (0.0, 0.0)
    return SplitStats(
        images=len(scan.entries),
        empty_images=sum(1 for e in scan.entries if not len(e.labels)),
        boxes_per_class=per_class,
        small=int((area < 32 ** 2).sum()),
        medium=int(((area >= 32 ** 2) & (area < 96 ** 2)).sum()),
        large=int((area >= 96 ** 2).sum()),
        median_wh=median,
    )
