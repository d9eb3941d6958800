"""Import a CVAT "YOLO 1.1" export (zip or folder) or a plain images/labels folder.

The result is upstream's layout, `OUT/{train,val}/{images,labels}` plus `OUT/data.yaml`
with paths relative to the yaml. Images are hard-linked when the filesystem allows,
else copied, and never re-encoded; label files are rewritten with only their good
lines. Everything is built in a hidden sibling folder and renamed into place at the
end, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np

from y7deploy.data.checks import Problem, ScanResult, scan_images
from y7deploy.data.config import write_data_config
from y7deploy.data.files import images_under, is_image
from y7deploy.data.split import classes_per_item, split_items
from y7deploy.errors import UserError

NAME_FILES = ("obj.names", "classes.txt", "names.txt")
LIST_KEYS = ("train", "valid", "test")


@dataclass
class Source:
    """What an export holds: class names, images, and problems found while listing them."""

    root: Path
    kind: str  # "cvat" or "folder"
    names: list[str]
    images: list[Path]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ImportResult:
    out: Path
    data_yaml: Path
    kind: str
    names: list[str]
    train_images: int
    val_images: int
    linked: int
    copied: int
    scan: ScanResult

    @property
    def problems(self) -> list[Problem]:
        return self.scan.problems


def import_dataset(src: str | Path, out: str | Path, val_fraction: float = 0.2, seed: int = 0,
                   strict: bool = False) -> ImportResult:
    """Import `src` into `out` (which must not exist or be empty); see the module docstring."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise UserError(f"source not found: {src}")
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output folder is not empty: {out} (choose another --out or remove it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        root = src
        if src.is_file():
            root = staging / "_src"
            safe_extract(src, root)
        source = read_source(_find_root(root))
        scan = scan_images(source.images, nc=len(source.names))
        scan.problems[:0] = source.problems
        if root != src:  # name files as members of the zip, not of a temporary folder
            scan.problems = [_inside(p, root, src) for p in scan.problems]
        if strict:
            scan.raise_if_any()
        if not scan.entries:
            raise UserError(f"{src}: empty dataset: no readable images")
        result = _write_split(scan, source, staging, val_fraction, seed)
        shutil.rmtree(staging / "_src", ignore_errors=True)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.out = out
    result.data_yaml = out / "data.yaml"
    return result


def _inside(problem: Problem, extracted: Path, zip_path: Path) -> Problem:
    if problem.file.is_relative_to(extracted):
        return replace(problem, file=zip_path / problem.file.relative_to(extracted))
    return problem


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract a zip, refusing absolute paths, `..` components and symlinks (path traversal)."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise UserError(f"{zip_path}: not a zip file ({exc})") from exc
    with zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
                raise UserError(f"{zip_path}: unsafe path in zip: {info.filename!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UserError(f"{zip_path}: symbolic link in zip: {info.filename!r}")
        dest.mkdir(parents=True)
        zf.extractall(dest)


def _find_root(folder: Path) -> Path:
    """The export's top folder: where obj.names/obj.data are, maybe one folder down."""
    markers = (*NAME_FILES, "obj.data", "train.txt", "images")
    if any((folder / m).exists() for m in markers):
        return folder
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    if len(subdirs) == 1 and any((subdirs[0] / m).exists() for m in markers):
        return subdirs[0]
    return folder


def read_source(root: Path) -> Source:
    """Recognise the layout of `root` and list its class names and images."""
    cvat_markers = ("obj.data", "train.txt") + tuple(p.name for p in root.glob("obj_*_data"))
    if any((root / m).exists() for m in cvat_markers):
        return _read_cvat(root)
    names_file = next((root / n for n in NAME_FILES if (root / n).is_file()), None)
    if names_file is None:
        raise UserError(f"{root}: no class names: put one name per line in {root / 'classes.txt'}")
    images_dir = root / "images" if (root / "images").is_dir() else root
    images = images_under(images_dir)
    return Source(root, "folder", _read_names(names_file), images)


def _read_cvat(root: Path) -> Source:
    obj_data = _read_obj_data(root / "obj.data")
    names_file = _in_export(root, obj_data.get("names", "obj.names"))
    if not names_file.is_file():
        raise UserError(f"{root}: CVAT export without obj.names (expected {names_file})")
    names = _read_names(names_file)
    classes = obj_data.get("classes")
    if classes is not None and classes.isdigit() and int(classes) != len(names):
        raise UserError(f"{root / 'obj.data'}: classes = {classes} but {names_file.name} has {len(names)} names")
    problems: list[Problem] = []
    images: list[Path] = []
    lists = [_in_export(root, obj_data[k]) for k in LIST_KEYS if k in obj_data] or [root / "train.txt"]
    lists = [p for p in lists if p.is_file()]
    for list_file in lists:
        for number, line in enumerate(list_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            image = _in_export(root, line.strip())
            if not is_image(image):
                problems.append(Problem(list_file, number, f"not an image file: {line.strip()}"))
            elif not image.is_file():
                problems.append(Problem(list_file, number, f"listed image missing: {line.strip()}"))
            elif image not in images:
                images.append(image)
    if not lists:  # no list file: every image of the obj_*_data folders
        for folder in sorted(root.glob("obj_*_data")):
            images.extend(images_under(folder))
    if not images and any(root.glob("obj_*_data/**/*.txt")):
        raise UserError(f"{root}: the export has labels but no images; export again from CVAT "
                        "with \"Save images\" checked")
    return Source(root, "cvat", names, images, problems)


def _read_obj_data(path: Path) -> dict[str, str]:
    """obj.data's `key = value` lines (darknet's format); absent file -> empty."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8-sig").splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _in_export(root: Path, ref: str) -> Path:
    """Paths inside a CVAT export are written as `data/...` (darknet's folder); map them to root."""
    ref = ref.replace("\\", "/")
    path = PurePosixPath(ref)
    if path.is_absolute() or ".." in path.parts:
        raise UserError(f"{root}: path outside the export: {ref!r}")
    if path.parts and path.parts[0] == "data" and not (root / "data").is_dir():
        path = PurePosixPath(*path.parts[1:])
    return root / path


def _read_names(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not names:
        raise UserError(f"{path}: no class names in it")
    return names


def _write_split(scan: ScanResult, source: Source, staging: Path, val_fraction: float,
                 seed: int) -> ImportResult:
    train_idx, val_idx = split_items(classes_per_item([e.labels for e in scan.entries]), val_fraction, seed)
    linked = copied = 0
    dest_names = _unique_names([e.image for e in scan.entries], source.root)
    for split, indices in (("train", train_idx), ("val", val_idx)):
        if not indices:
            continue
        (staging / split / "images").mkdir(parents=True)
        (staging / split / "labels").mkdir(parents=True)
        for i in indices:
            entry = scan.entries[i]
            dest = staging / split / "images" / dest_names[i]
            if _link_or_copy(entry.image, dest):
                linked += 1
            else:
                copied += 1
            (staging / split / "labels" / dest.with_suffix(".txt").name).write_text(_label_text(entry.labels), encoding="utf-8")
    # no val images (--val-fraction 0, or one image): validate on train, as upstream's examples do
    write_data_config(staging / "data.yaml", "train/images", "val/images" if val_idx else "train/images",
                      source.names)
    return ImportResult(staging, staging / "data.yaml", source.kind, source.names, len(train_idx),
                        len(val_idx), linked, copied, scan)


def _unique_names(images: list[Path], root: Path) -> list[str]:
    """File names for the flat output folders; clashing names get their relative folder as prefix."""
    counts: dict[str, int] = {}
    for p in images:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    names = []
    for p in images:
        if counts[p.stem] == 1:
            names.append(p.name)
        else:
            rel = p.relative_to(root) if p.is_relative_to(root) else p
            names.append("_".join(rel.parts).replace(".", "_") + p.suffix)
    return names


def _link_or_copy(src: Path, dest: Path) -> bool:
    """Hard-link (True) or, across filesystems or where links are refused, copy (False)."""
    try:
        os.link(src, dest)
        return True
    except OSError:
        shutil.copy2(src, dest)
        return False


def _label_text(labels: np.ndarray) -> str:
    return "".join(f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels)
