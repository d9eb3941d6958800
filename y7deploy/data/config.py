"""The data yaml (upstream's format: `train`, `val`, `nc`, `names`).

Upstream resolves `train`/`val` against the current directory; we resolve a relative
path against the yaml's own directory, so a dataset folder can be moved or used from
anywhere (an upstream yaml whose paths only exist relative to the current directory
still works: that is tried second). Each of `train`/`val` is a folder of images, a .txt list of image paths
(relative lines resolved against the list's folder), or a list of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from y7deploy.data.files import images_under, is_image, read_yaml_mapping
from y7deploy.errors import UserError

REQUIRED = ("train", "val", "nc", "names")


@dataclass(frozen=True)
class DataConfig:
    path: Path  # the yaml itself
    train: tuple[Path, ...]
    val: tuple[Path, ...]
    nc: int
    names: tuple[str, ...]

    def images(self, split: str) -> list[Path]:
        """The image files of "train" or "val"."""
        return resolve_images(getattr(self, split))


def load_data_config(path: str | Path, check_images: bool = True) -> DataConfig:
    """Read and validate a data yaml; with `check_images`, both splits must hold images."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data yaml not found: {path}")
    data = read_yaml_mapping(path, "keys " + ", ".join(REQUIRED))
    for key in REQUIRED:
        if key not in data or data[key] in (None, ""):
            raise UserError(f"{path}: missing key {key!r}")
    names = data["names"]
    if isinstance(names, dict):  # newer exporters write {0: name, 1: name}
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise UserError(f"{path}: 'names' must be a non-empty list of class names")
    nc = data["nc"]
    if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
        raise UserError(f"{path}: 'nc' must be a positive integer, got {nc!r}")
    if nc != len(names):
        raise UserError(f"{path}: nc is {nc} but names has {len(names)} entries")
    base = path.parent
    if data.get("path"):  # a dataset root, relative to this file unless absolute
        base = path.parent / Path(str(data["path"]))
    config = DataConfig(
        path=path,
        train=_sources(data["train"], base),
        val=_sources(data["val"], base),
        nc=nc,
        names=tuple(str(n) for n in names),
    )
    if check_images:
        for split in ("train", "val"):
            for source in getattr(config, split):
                if not source.exists():
                    raise UserError(f"{path}: {split} path does not exist: {source}")
            if not config.images(split):
                raise UserError(f"{path}: empty dataset: no images in {split} ({_show(getattr(config, split))})")
    return config


def _sources(value, base: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_resolve(Path(str(v)), base) for v in items)


def _resolve(path: Path, base: Path) -> Path:
    if path.is_absolute():
        return path
    if not (base / path).exists() and path.exists():  # upstream's cwd-relative yaml
        return path.resolve()
    return base / path


def _show(sources: tuple[Path, ...]) -> str:
    return ", ".join(str(s) for s in sources)


def resolve_images(sources) -> list[Path]:
    """Image files from folders, .txt lists and single images, in a stable order."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    images: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            images.extend(images_under(source))
        elif source.suffix == ".txt" and source.is_file():
            for line in source.read_text(encoding="utf-8-sig").splitlines():
                line = line.strip()
                if line:
                    p = Path(line)
                    images.append(p if p.is_absolute() else source.parent / p)
        elif source.is_file() and is_image(source):
            images.append(source)
        elif not source.exists():
            raise UserError(f"dataset path does not exist: {source}")
    return images


def write_data_config(path: Path, train: str, val: str, names: list[str], test: str | None = None) -> None:
    """Write a data yaml; `train`/`val`/`test` as given (we write them relative to the yaml).

    `test` is upstream's optional held-out split (its test.py --task test); training ignores it.
    """
    keys = {"train": train, "val": val, **({"test": test} if test else {}), "nc": len(names), "names": list(names)}
    text = (
        "# y7deploy data yaml (upstream YOLOv7 format). train/val are relative to this file.\n"
        + yaml.safe_dump(keys, sort_keys=False, allow_unicode=True)
    )
    path.write_text(text, encoding="utf-8")
