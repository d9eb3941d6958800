"""Builders of small CVAT exports and coloured-box images for the data tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from y7deploy.data.demo import write_demo_dataset


def solid_image(h: int = 64, w: int = 80, value: int = 90) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def write_cvat_folder(root: Path, items: dict[str, tuple[np.ndarray, str | None]],
                      names: list[str] | None = ("cat", "dog"), obj_data: bool = True) -> Path:
    """A CVAT YOLO 1.1 export: obj.names, obj.data, train.txt, obj_train_data/ images + labels."""
    data = root / "obj_train_data"
    data.mkdir(parents=True)
    if names is not None:
        (root / "obj.names").write_text("".join(f"{n}\n" for n in names))
    if obj_data:
        (root / "obj.data").write_text(f"classes = {len(names or [])}\ntrain = data/train.txt\n"
                                       "names = data/obj.names\nbackup = backup/\n")
    (root / "train.txt").write_text("".join(f"data/obj_train_data/{n}\n" for n in items))
    for name, (img, label) in items.items():
        cv2.imwrite(str(data / name), img)
        if label is not None:
            (data / name).with_suffix(".txt").write_text(label)
    return root


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return zip_path


def balanced_items(n: int = 10) -> dict[str, tuple[np.ndarray, str]]:
    """n images alternating class 0 and 1, one box each."""
    return {f"img{i:03d}.jpg": (solid_image(), f"{i % 2} 0.5 0.5 0.4 0.4\n") for i in range(n)}


class Builders:
    """The helpers above, as a fixture: with --import-mode=importlib tests cannot import conftest."""

    solid_image = staticmethod(solid_image)
    write_cvat_folder = staticmethod(write_cvat_folder)
    zip_folder = staticmethod(zip_folder)
    balanced_items = staticmethod(balanced_items)


@pytest.fixture
def build() -> Builders:
    return Builders()


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory) -> Path:
    """A small demo set (the generator is the same as the full one, just fewer images)."""
    return write_demo_dataset(tmp_path_factory.mktemp("demo") / "demo.zip", n_images=40, img_size=160, seed=0)


@pytest.fixture(scope="session")
def demo_dataset(demo_zip, tmp_path_factory) -> Path:
    """The small demo set imported; returns its data.yaml."""
    from y7deploy.data.cvat import import_dataset

    return import_dataset(demo_zip, tmp_path_factory.mktemp("imported") / "demo").data_yaml
