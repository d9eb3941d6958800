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
    """A CVAT YOLO 1.1 task export: obj.names, obj.data, train.txt, obj_train_data/ images + labels."""
    return write_cvat_export(root, {"train": items}, names, obj_data)


def write_cvat_export(root: Path, subsets: dict[str, dict[str, tuple[np.ndarray, str | None]]],
                      names: list[str] | None = ("cat", "dog"), obj_data: bool = True) -> Path:
    """A CVAT YOLO 1.1 export as datumaro's YOLO exporter (which CVAT uses) writes it.

    Per subset `S`: `obj_S_data/<item id>.<ext>` with `<item id>.txt` beside it (an item
    id may hold folders), `S.txt` listing `data/obj_S_data/<item id>.<ext>`, and the key
    `S = data/S.txt` in obj.data between `classes` and `names`. A label of None writes
    no label file.
    """
    root.mkdir(parents=True, exist_ok=True)
    if names is not None:
        (root / "obj.names").write_text("".join(f"{n}\n" for n in names))
    if obj_data:
        keys = "".join(f"{subset} = data/{subset}.txt\n" for subset in subsets)
        (root / "obj.data").write_text(f"classes = {len(names or [])}\n{keys}names = data/obj.names\nbackup = backup/\n")
    for subset, items in subsets.items():
        data = root / f"obj_{subset}_data"
        data.mkdir(parents=True, exist_ok=True)
        (root / f"{subset}.txt").write_text("".join(f"data/obj_{subset}_data/{n}\n" for n in items))
        for name, (img, label) in items.items():
            (data / name).parent.mkdir(parents=True, exist_ok=True)
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
    write_cvat_export = staticmethod(write_cvat_export)
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
