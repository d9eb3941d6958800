"""Import a CVAT "YOLO 1.1" export (zip or folder) or a plain images/labels folder.

The result is upstream's layout, `OUT/{train,val[,test]}/{images,labels}` plus
`OUT/data.yaml` with paths relative to the yaml. Images are hard-linked when the
filesystem allows, else copied, and never re-encoded; label files are rewritten with
only their good lines. Everything is built in a hidden sibling folder and renamed into
place at the end, so a failed import leaves nothing behind.

A CVAT export holds one subset per name the user gave (a task export: `train`; a
project export: `Train`, `Validation`, `Test` or any name), each declared as a key of
`obj.data` (`<Subset> = data/<Subset>.txt`) and stored as `obj_<Subset>_data/` with one
label file beside every image (datumaro's YOLO exporter, which CVAT uses). Every subset
is read. By default the user's split is kept: a validation-like subset becomes val, a
test-like one test, any other train; with no validation subset, val is a seeded part of
train. `resplit` pools every image and splits afresh. No image is left out silently:
each is imported or named, with why, in the result's `skipped`.
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

from y7deploy.data.checks import NO_LABEL_FILE, ORPHAN_LABEL, UNREADABLE_IMAGE, UNREADABLE_LABELS, Problem, ScanResult, scan_images
from y7deploy.data.config import write_data_config
from y7deploy.data.files import images_under, is_image, orphan_labels
from y7deploy.data.split import classes_per_item, split_items
from y7deploy.errors import UserError

NAME_FILES = ("obj.names", "classes.txt", "names.txt")
# obj.data keys that are not subsets (darknet's; datumaro refuses them as subset names)
RESERVED_KEYS = ("classes", "names", "backup")
VAL_NAMES = {"val", "valid", "validation", "validate", "dev", "eval", "evaluation"}
TEST_NAMES = {"test", "testing"}
NOT_LISTED = "image in no subset list"
LISTED_MISSING = "listed image missing"


def subset_split(name: str) -> str:
    """Where the user's own split sends a subset: "val", "test" or "train"."""
    key = name.strip().lower()
    return "val" if key in VAL_NAMES else "test" if key in TEST_NAMES else "train"


@dataclass
class Subset:
    """One subset of an export, as the export names it, and the images it lists."""

    name: str
    images: list[Path]

    @property
    def split(self) -> str:
        return subset_split(self.name)


@dataclass
class Source:
    """What an export holds: class names, subsets, every image file in it, and problems
    found while listing them."""

    root: Path
    kind: str  # "cvat" or "folder"
    names: list[str]
    subsets: list[Subset]
    found: list[Path] = field(default_factory=list)  # every image file present in the export
    problems: list[Problem] = field(default_factory=list)

    @property
    def images(self) -> list[Path]:
        return [p for s in self.subsets for p in s.images]


@dataclass
class Placement:
    """Which subset went where: `images` of subset `subset` imported into `split`."""

    subset: str
    split: str
    images: int


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
    test_images: int = 0
    placements: list[Placement] = field(default_factory=list)
    held_out: int = 0  # train images moved to val because the export had no validation subset
    resplit: bool = False
    found: int = 0  # image files present in the export

    @property
    def problems(self) -> list[Problem]:
        return self.scan.problems

    @property
    def imported(self) -> int:
        return self.train_images + self.val_images + self.test_images

    @property
    def skipped(self) -> list[Problem]:
        """Images present in the export and not imported, each with why."""
        kinds = (UNREADABLE_IMAGE, NO_LABEL_FILE, UNREADABLE_LABELS, NOT_LISTED)
        return [p for p in self.scan.problems if p.line is None and p.message.startswith(kinds)]

    @property
    def missing(self) -> list[Problem]:
        """Images a subset list names that are not in the export."""
        return [p for p in self.scan.problems if p.message.startswith(LISTED_MISSING)]


def import_dataset(src: str | Path, out: str | Path, val_fraction: float = 0.2, seed: int = 0,
                   strict: bool = False, resplit: bool = False) -> ImportResult:
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
        try:
            source = read_source(_find_root(root))
        except UserError as exc:
            if root == src:
                raise
            raise UserError(str(exc).replace(str(root), str(src))) from None  # the zip, not a temp folder
        scan = scan_images(source.images, nc=len(source.names), check_orphans=False,
                           require_labels=source.kind == "cvat")
        scan.problems[:0] = source.problems
        # a label whose image is in the export but unlisted is not an orphan: that image is named already
        scan.problems += [Problem(p, None, ORPHAN_LABEL)
                          for p in orphan_labels(source.found)]
        if root != src:  # name files as members of the zip, not of a temporary folder
            scan.problems = [_inside(p, root, src) for p in scan.problems]
        if strict:
            scan.raise_if_any()
        if not scan.entries:
            raise UserError(f"{src}: empty dataset: no readable images")
        result = _write_splits(scan, source, staging, val_fraction, seed, resplit)
        result.found = len(source.found)
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
    """Recognise the layout of `root` and list its class names, subsets and images."""
    cvat_markers = ("obj.data", "train.txt") + tuple(p.name for p in root.glob("obj_*_data"))
    if any((root / m).exists() for m in cvat_markers):
        return _read_cvat(root)
    names_file = next((root / n for n in NAME_FILES if (root / n).is_file()), None)
    if names_file is None:
        raise UserError(f"{root}: no class names: put one name per line in {root / 'classes.txt'}")
    images_dir = root / "images" if (root / "images").is_dir() else root
    images = images_under(images_dir)
    return Source(root, "folder", _read_names(names_file), [Subset("images", images)], found=list(images))


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
    subsets: list[Subset] = []
    where: dict[Path, str] = {}  # image -> the subset that lists it first
    for name, list_file, folder in _subset_sources(root, obj_data):
        images: list[Path] = []
        if list_file is not None and list_file.is_file():
            for number, line in enumerate(list_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
                ref = line.strip()
                if not ref:
                    continue
                image = _in_export(root, ref)
                if not is_image(image):
                    problems.append(Problem(list_file, number, f"not an image file: {ref}"))
                elif not image.is_file():
                    problems.append(Problem(list_file, number, f"{LISTED_MISSING}: {ref}"))
                elif image in where:
                    problems.append(Problem(list_file, number, f"listed twice: {ref} (kept in subset {where[image]})"))
                else:
                    where[image] = name
                    images.append(image)
        elif folder.is_dir():  # no list file: every image of the subset's folder
            if list_file is not None:
                problems.append(Problem(root / "obj.data", None, f"subset {name}: list file {list_file.name} "
                                        f"missing; took every image of {folder.name}/"))
            for image in images_under(folder):
                if image not in where:
                    where[image] = name
                    images.append(image)
        else:
            problems.append(Problem(root / "obj.data", None, f"subset {name}: neither {list_file} nor {folder} exists"))
        subsets.append(Subset(name, images))
    found = [p for p in images_under(root) if not _hidden(p.relative_to(root))]
    for image in found:
        if image not in where:
            problems.append(Problem(image, None, f"{NOT_LISTED} (present but unlisted)"))
    if not where and any(root.glob("obj_*_data/**/*.txt")):
        raise UserError(f"{root}: the export has labels but no images; export again from CVAT "
                        "with \"Save images\" checked")
    return Source(root, "cvat", names, subsets, found, problems)


def _subset_sources(root: Path, obj_data: dict[str, str]) -> list[tuple[str, Path | None, Path]]:
    """(name, list file, folder) of every subset that obj.data declares or the export holds."""
    declared = [k for k in obj_data if k not in RESERVED_KEYS]
    held = sorted(p.name[len("obj_"):-len("_data")] for p in root.glob("obj_*_data") if p.is_dir())
    sources = []
    for name in declared + [n for n in held if n not in declared]:
        list_file = _in_export(root, obj_data[name]) if name in obj_data else root / f"{name}.txt"
        if name not in obj_data and not list_file.is_file():
            list_file = None
        sources.append((name, list_file, root / f"obj_{name}_data"))
    if not sources and (root / "train.txt").is_file():  # darknet's bare train.txt
        sources.append(("train", root / "train.txt", root / "obj_train_data"))
    return sources


def _hidden(rel: Path) -> bool:
    """Zip tools' debris (__MACOSX/, .DS_Store folders), not part of the export."""
    return any(part.startswith((".", "__MACOSX")) for part in rel.parts[:-1])


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


def _write_splits(scan: ScanResult, source: Source, staging: Path, val_fraction: float, seed: int,
                  resplit: bool) -> ImportResult:
    entries = scan.entries
    subset_of = {image: s for s in source.subsets for image in s.images}
    if resplit or source.kind == "folder":
        splits = {"train": list(range(len(entries))), "val": [], "test": []}
    else:
        splits = {"train": [], "val": [], "test": []}
        for i, e in enumerate(entries):
            splits[subset_of[e.image].split].append(i)
        if not splits["train"]:
            raise UserError(f"{source.root}: no train subset (subsets: "
                            f"{', '.join(s.name for s in source.subsets)}); use --resplit to split them afresh")
    held_out = 0
    if not any(s.split == "val" for s in source.subsets) or resplit or source.kind == "folder":
        pool = splits["train"]
        train, val = split_items(classes_per_item([entries[i].labels for i in pool]), val_fraction, seed)
        splits["train"], splits["val"] = [pool[i] for i in train], [pool[i] for i in val]
        held_out = len(val)
    placements = [Placement(s.name, "train + val" if resplit or held_out and s.split == "train" else s.split,
                            sum(1 for e in entries if subset_of[e.image] is s)) for s in source.subsets]
    linked = copied = 0
    dest_names = _unique_names([e.image for e in entries], source.root)
    for split, indices in splits.items():
        if not indices:
            continue
        (staging / split / "images").mkdir(parents=True)
        (staging / split / "labels").mkdir(parents=True)
        for i in indices:
            dest = staging / split / "images" / dest_names[i]
            if _link_or_copy(entries[i].image, dest):
                linked += 1
            else:
                copied += 1
            (staging / split / "labels" / dest.with_suffix(".txt").name).write_text(
                _label_text(entries[i].labels), encoding="utf-8")
    # no val images (--val-fraction 0, or one image): validate on train, as upstream's examples do
    write_data_config(staging / "data.yaml", "train/images", "val/images" if splits["val"] else "train/images",
                      source.names, test="test/images" if splits["test"] else None)
    return ImportResult(staging, staging / "data.yaml", source.kind, source.names, len(splits["train"]),
                        len(splits["val"]), linked, copied, scan, test_images=len(splits["test"]),
                        placements=placements, held_out=held_out if not resplit else 0, resplit=resplit)


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
