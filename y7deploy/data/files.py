"""Where images and their label files are, by upstream's conventions.

A label is found at the image's path with the last `images` directory replaced by
`labels` and the suffix by `.txt` (upstream's layout), or else beside the image
(CVAT's `obj_train_data/` layout).
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".dng", ".mpo")

# Text files that sit among images without being labels.
NOT_LABELS = {"classes.txt", "obj.names", "train.txt", "valid.txt", "test.txt", "obj.data"}


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def images_under(folder: Path) -> list[Path]:
    """Every image below `folder`, sorted, so a dataset's order never depends on the filesystem."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / f for f in sorted(files) if is_image(Path(f)))
    return found


def label_path(image: Path) -> Path:
    """The label file of an image: under a sibling `labels/` dir if the image is in `images/`, else beside it."""
    parts = image.parts
    if "images" in parts[:-1]:
        i = len(parts) - 2 - parts[:-1][::-1].index("images")
        candidate = Path(*parts[:i], "labels", *parts[i + 1:]).with_suffix(".txt")
        if candidate.exists() or not image.with_suffix(".txt").exists():
            return candidate
    return image.with_suffix(".txt")


def orphan_labels(images: list[Path]) -> list[Path]:
    """Label files in the label folders of `images` that belong to no image."""
    wanted = {label_path(p).resolve() for p in images}
    folders = {p.parent for p in wanted}
    orphans = []
    for folder in sorted(folders):
        for txt in sorted(folder.glob("*.txt")):
            if txt.name not in NOT_LABELS and txt.resolve() not in wanted:
                orphans.append(txt)
    return orphans


def read_yaml_mapping(path: Path, what: str) -> dict:
    """A yaml file that must hold a mapping; anything else is a UserError naming the file."""
    import yaml

    from y7deploy.errors import UserError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of {what}, got {type(data).__name__}")
    return data
