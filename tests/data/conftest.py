"""Builders of small CVAT exports and coloured-box images for the data tests."""

from __future__ import annotations

import ast
import math
import os
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


class Script:
    """A random source that plays back fixed numbers in [0, 1), one per draw.

    It stands in both for upstream's `random` module and for our numpy Generator, with
    each method mapping a number the same way for both (python's randint(a, b) and
    numpy's integers(a, b + 1) alike: a + floor(u * count)). Fed the same numbers, code
    that draws in upstream's order makes upstream's choices exactly. Running out of
    numbers is an error, so an unexpected draw does not go unnoticed.
    """

    def __init__(self, numbers, picks=None):
        self.numbers = list(numbers)
        self.picks = list(picks or [])  # what upstream's random.choices returns, in order

    def random(self):
        if not self.numbers:
            raise AssertionError("Script ran out of numbers: more draws than expected")
        return self.numbers.pop(0)

    def uniform(self, a, b):
        return a + (b - a) * self.random()

    def randint(self, a, b):
        return a + math.floor(self.random() * (b - a + 1))

    def integers(self, low, high=None, size=None):
        if high is None:
            low, high = 0, low
        if size is None:
            return low + math.floor(self.random() * (high - low))
        return np.array([self.integers(low, high) for _ in range(size)])

    def choices(self, population, k=1):
        return [self.picks.pop(0) for _ in range(k)]

    def sample(self, population, k):
        left = list(population)
        return [left.pop(math.floor(self.random() * len(left))) for _ in range(k)]

    def choice(self, n, size, replace=False):
        assert not replace
        return np.array(self.sample(range(n), size))


UPSTREAM_ENV = "Y7DEPLOY_UPSTREAM"
UPSTREAM_FUNCTIONS = {
    "utils/general.py": ("xywhn2xyxy", "xyxy2xywh", "xyn2xy"),
    "utils/datasets.py": ("load_image", "load_mosaic", "load_mosaic9", "random_perspective", "box_candidates",
                          "copy_paste", "bbox_ioa", "pastein", "sample_segments", "load_samples"),
}


@pytest.fixture(scope="session")
def upstream_checkout() -> Path:
    """A checkout of upstream YOLOv7, named by $Y7DEPLOY_UPSTREAM; the test is skipped without one."""
    checkout = os.environ.get(UPSTREAM_ENV)
    if not checkout:
        pytest.skip(f"set {UPSTREAM_ENV} to a checkout of WongKinYiu/yolov7 to compare with upstream's code")
    return Path(checkout)


@pytest.fixture(scope="session")
def upstream(upstream_checkout) -> dict:
    """Upstream YOLOv7's augmentation functions, from the checkout named by $Y7DEPLOY_UPSTREAM.

    Only the functions' own source is run (parsed out of the files), in a namespace with
    numpy, cv2, math and torch (LoadImagesAndLabels.__getitem__ as `__getitem__`):
    upstream's modules import packages y7deploy does without. Set
    `ns["random"]` to a Script before calling them.
    """
    import torch

    ns: dict = {"np": np, "cv2": cv2, "math": math, "torch": torch}
    for rel, names in UPSTREAM_FUNCTIONS.items():
        path = upstream_checkout / rel
        if not path.is_file():
            pytest.skip(f"{UPSTREAM_ENV}={upstream_checkout} has no {rel}")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
        found += [method for cls in tree.body if isinstance(cls, ast.ClassDef) and cls.name == "LoadImagesAndLabels"
                  for method in cls.body if isinstance(method, ast.FunctionDef) and method.name == "__getitem__"]
        missing = set(names) - {f.name for f in found}
        assert not missing, f"{path}: missing {missing}"
        exec(compile(ast.Module(body=found, type_ignores=[]), str(path), "exec"), ns)
    return ns


@pytest.fixture
def script():
    return Script
