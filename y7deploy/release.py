"""Release bundles: the one hand-over from the workstation to the fleet.

A release is a directory ``<root>/<name>-<version>/`` holding ``model.onnx``,
``labels.txt`` (one class a line) and ``manifest.json``. The manifest records the
sha256 of every other file, so a reader can prove the bundle is the one that was
exported and verified; a bundle whose files do not match is refused rather than
pushed to a fleet.

Bundles are immutable. They are written into a hidden temporary directory next to
their final place and renamed into it in one step, so a reader never sees half a
bundle, and an existing version is only replaced when the caller says ``force``.

This module imports no torch or onnx: the fleet half, installed without the export
extras, reads bundles with it (the model's header through onnx_header.py).

Manifest (``schema`` 1), flat so templates can use it directly::

    schema, id, name, version, created (UTC ISO 8601), y7deploy_version,
    files {filename: {sha256, size}}, nc, names, input_size [H, W],
    batch (int, or null when dynamic), dynamic_batch, opset, stride,
    fp16 and precision (the engine precision devices should build; the ONNX is float32),
    simplified, input {name, format, scale, net_scale_factor, shape},
    output {name, layout, rows, parser},
    source {file, sha256, kind, epoch, cfg}, metrics (or null), verification
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from y7deploy import __version__
from y7deploy.errors import UserError
from y7deploy.onnx_header import read_onnx_header

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.txt"

# Names and versions become directory names on devices and parts of engine paths:
# keep them to characters that need no quoting anywhere.
_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


def check_id_part(kind: str, value: str) -> str:
    """Refuse a name or version that would not be a safe, single path component."""
    if not _ID_PART.match(value or "") or ".." in value:
        raise UserError(
            f"release {kind} {value!r} is not usable: use letters, digits and . _ + - "
            "(starting with a letter or digit, at most 64 characters)"
        )
    return value


def release_id(name: str, version: str) -> str:
    return f"{check_id_part('name', name)}-{check_id_part('version', version)}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Release:
    """A bundle on disk whose files matched its manifest when it was opened."""

    path: Path
    manifest: Mapping[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def created(self) -> str:
        return self.manifest["created"]

    @property
    def names(self) -> list[str]:
        return list(self.manifest["names"])

    @property
    def nc(self) -> int:
        return int(self.manifest["nc"])

    @property
    def input_size(self) -> tuple[int, int]:
        h, w = self.manifest["input_size"]
        return int(h), int(w)

    @property
    def batch(self) -> int | None:
        """The static batch size, or None for a dynamic batch axis."""
        return self.manifest["batch"]

    @property
    def dynamic_batch(self) -> bool:
        return self.manifest["batch"] is None

    @property
    def precision(self) -> str:
        """The TensorRT engine precision the exporter asked devices for (the ONNX is float32)."""
        return self.manifest.get("precision", "fp32")

    @property
    def opset(self) -> int:
        return int(self.manifest["opset"])

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def labels_path(self) -> Path:
        return self.path / LABELS_FILE

    @property
    def size_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.manifest["files"].values())


def _read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not path.is_dir():
        raise UserError(f"{path}: no such release directory")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{file}: missing, {path} is not a release bundle") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{file}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{file}: not a manifest (a JSON object), found {type(manifest).__name__}")
    schema = manifest.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA_VERSION:
        raise UserError(f"{file}: manifest schema {schema} is newer than this y7deploy {__version__} reads "
                        f"(schema {SCHEMA_VERSION}); upgrade y7deploy to use this bundle")
    if schema != SCHEMA_VERSION:
        raise UserError(f"{file}: unsupported manifest schema {schema!r} (expected {SCHEMA_VERSION})")
    missing = [k for k in ("id", "name", "version", "created", "files", "nc", "names", "input_size", "batch", "opset")
               if k not in manifest]
    if missing:
        raise UserError(f"{file}: manifest lacks {', '.join(missing)}")
    _check_fields(file, manifest)
    return manifest


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _check_fields(file: Path, m: Mapping[str, Any]) -> None:
    """The manifest is data from disk that becomes paths and configs on devices: check every field's type."""

    def bad(field: str, want: str) -> UserError:
        return UserError(f"{file}: field {field!r} must be {want}, found {m_get(field)!r}")

    def m_get(dotted: str) -> Any:
        value: Any = m
        for part in dotted.split("/"):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def is_int(v: Any, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    for key in ("id", "name", "version", "created"):
        if not isinstance(m[key], str):
            raise bad(key, "a string")
    try:
        ident = release_id(m["name"], m["version"])
    except UserError as exc:
        raise UserError(f"{file}: {exc}") from None
    if m["id"] != ident:
        raise bad("id", f"{ident!r} (name-version)")
    if not is_int(m["nc"], 1):
        raise bad("nc", "a positive integer")
    if not isinstance(m["names"], list) or not all(isinstance(n, str) for n in m["names"]):
        raise bad("names", "a list of class names")
    size = m["input_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(is_int(v, 1) for v in size)):
        raise bad("input_size", "[height, width] in pixels")
    if m["batch"] is not None and not is_int(m["batch"], 1):
        raise bad("batch", "a positive integer, or null for a dynamic batch")
    if not is_int(m["opset"], 1):
        raise bad("opset", "an ONNX opset number")
    if not isinstance(m["files"], dict):
        raise bad("files", "a mapping of file name to {sha256, size}")
    for name, entry in m["files"].items():
        # Names become paths in the bundle and on devices: plain file names only.
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
            raise UserError(f"{file}: files lists {name!r}, which is not a plain file name in the bundle")
        if not isinstance(entry, dict):
            raise bad(f"files/{name}", "{sha256, size}")
        if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
            raise bad(f"files/{name}/sha256", "64 lowercase hex digits")
        if not is_int(entry.get("size"), 0):
            raise bad(f"files/{name}/size", "a size in bytes")


def _verify(path: Path, manifest: Mapping[str, Any]) -> None:
    files = manifest["files"]
    for required in (MODEL_FILE, LABELS_FILE):
        if required not in files:
            raise UserError(f"{path / MANIFEST}: does not list {required}")
    for name, entry in files.items():
        file = path / name
        if file.is_symlink():
            raise UserError(f"{file}: a symlink; a bundle holds its own regular files, refusing it")
        if not file.is_file():
            raise UserError(f"{file}: listed in the manifest but missing from the bundle")
        if file.stat().st_size != entry["size"] or sha256_file(file) != entry["sha256"]:
            raise UserError(f"{file}: sha256 does not match the manifest; the bundle was modified, refusing it")
    try:
        labels = (path / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        labels = None
    if labels != list(manifest["names"]) or len(labels) != manifest["nc"]:
        raise UserError(f"{path / MANIFEST}: names/nc disagree with {LABELS_FILE}; the bundle was modified, refusing it")
    _check_model(path / MODEL_FILE, manifest)


# DeepStream-Yolo's layout (the exporter's): one image input [B, 3, H, W], one output
# [B, N, 6] of x1, y1, x2, y2, score, class that NvDsInferParseYolo reads.
INPUT_NAME, OUTPUT_NAME, OUTPUT_COLUMNS = "input", "output", 6


def _check_model(file: Path, manifest: Mapping[str, Any]) -> None:
    """The ONNX is a graph in DeepStream-Yolo's layout and of the opset, input size and batch
    its manifest records: devices build their engines from what the manifest says."""
    try:
        header = read_onnx_header(file)
    except (OSError, ValueError) as exc:
        raise UserError(f"{file}: not an ONNX model ({exc}); a release holds the exported model") from None
    if not header.nodes:
        raise UserError(f"{file}: the ONNX graph has no nodes; a release holds the exported model")
    if header.opset != manifest["opset"]:
        raise UserError(f"{file}: the model imports opset {header.opset}, its manifest records opset "
                        f"{manifest['opset']}; refusing a bundle whose manifest does not describe its model")
    ins, outs = [t.name for t in header.inputs], [t.name for t in header.outputs]
    if ins != [INPUT_NAME] or outs != [OUTPUT_NAME]:
        raise UserError(f"{file}: the graph binds {ins} -> {outs}; DeepStream-Yolo's layout is "
                        f"[{INPUT_NAME!r}] -> [{OUTPUT_NAME!r}]")
    height, width = manifest["input_size"]
    batch = manifest["batch"]  # None: a dynamic (symbolic) batch axis
    shape = header.inputs[0].shape
    batch_ok = bool(shape) and (shape[0] == batch if batch is not None else not isinstance(shape[0], int))
    if len(shape) != 4 or tuple(shape[1:]) != (3, height, width) or not batch_ok:
        want = f"[{batch if batch is not None else 'dynamic'}, 3, {height}, {width}]"
        raise UserError(f"{file}: input {INPUT_NAME!r} has shape {list(shape)}, the manifest records {want}")
    out = header.outputs[0].shape  # a dynamic export may leave its sizes symbolic
    if len(out) != 3 or (isinstance(out[2], int) and out[2] != OUTPUT_COLUMNS):
        raise UserError(f"{file}: output {OUTPUT_NAME!r} has shape {list(out)}; DeepStream-Yolo's parser "
                        f"reads [batch, rows, {OUTPUT_COLUMNS}]")


def open_release(path: str | os.PathLike) -> Release:
    """Open a bundle and prove its files are the ones the manifest names (UserError otherwise)."""
    path = Path(path)
    manifest = _read_manifest(path)
    _verify(path, manifest)
    return Release(path=path, manifest=manifest)


@dataclass(frozen=True)
class ListedRelease:
    """One directory under a releases root: either a verified release or why it is not one."""

    path: Path
    release: Release | None
    problem: str | None


def list_releases(root: str | os.PathLike) -> list[ListedRelease]:
    """Every bundle under ``root``, verified, newest first; broken ones are listed with their problem."""
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[ListedRelease] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            found.append(ListedRelease(path, open_release(path), None))
        except UserError as exc:
            found.append(ListedRelease(path, None, str(exc)))
    found.sort(key=lambda r: r.release.created if r.release else "", reverse=True)
    return found


def find_release(root: str | os.PathLike, ident: str) -> Release:
    """A release by id under ``root``, or by a path to its directory."""
    candidate = Path(root) / ident
    if not candidate.is_dir() and Path(ident).is_dir():
        candidate = Path(ident)
    if not candidate.is_dir():
        raise UserError(f"release {ident!r} not found under {root}")
    return open_release(candidate)


def write_release(
    root: str | os.PathLike,
    *,
    name: str,
    version: str,
    model_file: str | os.PathLike,
    names: list[str],
    info: Mapping[str, Any],
    force: bool = False,
) -> Release:
    """Write a new bundle atomically from a verified ONNX file.

    ``info`` carries the model facts for the manifest (input_size, batch, opset,
    stride, source, metrics...). An existing release with the same id is an error
    unless ``force``; then it is swapped out only after the new one is complete.
    """
    ident = release_id(name, version)
    reserved = {"schema", "id", "name", "version", "created", "y7deploy_version", "files", "nc", "names"}
    if reserved & set(info):
        raise ValueError(f"info may not set {sorted(reserved & set(info))}")
    root = Path(root)
    final = root / ident
    if final.exists() and not force:
        raise UserError(f"release {ident} already exists at {final}; releases are immutable (use --force to replace it)")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{ident}.", suffix=".tmp", dir=root))
    try:
        shutil.copyfile(model_file, staging / MODEL_FILE)
        (staging / LABELS_FILE).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        files = {
            f: {"sha256": sha256_file(staging / f), "size": (staging / f).stat().st_size}
            for f in (MODEL_FILE, LABELS_FILE)
        }
        manifest = {
            "schema": SCHEMA_VERSION,
            "id": ident,
            "name": name,
            "version": version,
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "y7deploy_version": __version__,
            "files": files,
            "nc": len(names),
            "names": list(names),
            **info,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for f in staging.iterdir():
            _fsync(f)
        os.chmod(staging, 0o755)
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync(root)
    return open_release(final)


def _swap_into_place(staging: Path, final: Path) -> None:
    """Rename the finished bundle to its id; an old one (force) moves aside first, then goes."""
    if not final.exists():
        try:
            os.rename(staging, final)
        except OSError as exc:  # another export of the same id got there first
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise UserError(f"release {final.name} appeared at {final} while this one was written; "
                                "releases are immutable (use --force to replace it)") from None
            raise
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    os.rename(final, retired / final.name)
    try:
        os.rename(staging, final)
    except OSError:
        os.rename(retired / final.name, final)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
