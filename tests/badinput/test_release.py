"""Release bundles that must never reach a fleet: tampered, incomplete, from a newer y7deploy, malformed.

Each case copies a real exported bundle, breaks one thing and asks the CLI to show it;
the one line must name the bundle and the file or manifest field at fault.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest


def _flip_a_byte(bundle: Path) -> None:
    with open(bundle / "model.onnx", "r+b") as f:
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0xFF]))


def _append_a_class(bundle: Path) -> None:
    with open(bundle / "labels.txt", "a") as f:
        f.write("intruder\n")


def _symlink_labels(bundle: Path) -> None:
    (bundle / "labels.txt").unlink()
    (bundle / "labels.txt").symlink_to("/etc/hostname")


def _replace_model(data: bytes) -> Callable[[Path], None]:
    """model.onnx swapped for data, and the manifest's hash made to match: only the model check can see it."""

    def apply(bundle: Path) -> None:
        (bundle / "model.onnx").write_bytes(data)
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["files"]["model.onnx"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))

    return apply


def _edit(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    """A break that rewrites the manifest (and only it) with one change."""

    def apply(bundle: Path) -> None:
        manifest = json.loads((bundle / "manifest.json").read_text())
        change(manifest)
        (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))

    return apply


def _set(**fields: Any) -> Callable[[Path], None]:
    return _edit(lambda m: m.update(fields))


def _set_file_entry(name: str, entry: Any) -> Callable[[Path], None]:
    return _edit(lambda m: m["files"].__setitem__(name, entry))


BROKEN = {
    "tampered-model-hash": (_flip_a_byte, ["shapes-1.0.0/model.onnx", "sha256 does not match"]),
    "labels-edited-after-export": (_append_a_class, ["shapes-1.0.0/labels.txt", "sha256 does not match"]),
    "model-missing": (lambda b: (b / "model.onnx").unlink(), ["shapes-1.0.0/model.onnx", "missing"]),
    "labels-a-symlink": (_symlink_labels, ["shapes-1.0.0/labels.txt", "symlink"]),
    "newer-schema": (_set(schema=2), ["shapes-1.0.0/manifest.json", "schema 2", "newer", "upgrade"]),
    "schema-as-string": (_set(schema="1"), ["shapes-1.0.0/manifest.json", "schema '1'"]),
    "manifest-missing": (lambda b: (b / "manifest.json").unlink(), ["shapes-1.0.0/manifest.json", "missing"]),
    "manifest-not-json": (lambda b: (b / "manifest.json").write_text('{"schema": 1,'),
                          ["shapes-1.0.0/manifest.json", "not a readable manifest"]),
    "manifest-a-list": (lambda b: (b / "manifest.json").write_text("[]"), ["shapes-1.0.0/manifest.json", "list"]),
    "field-missing": (_edit(lambda m: m.pop("opset")), ["shapes-1.0.0/manifest.json", "opset"]),
    "file-entry-without-sha256": (_set_file_entry("labels.txt", {"size": 6}), ["manifest.json", "files/labels.txt/sha256"]),
    "file-entry-not-a-mapping": (_set_file_entry("labels.txt", "abc"), ["manifest.json", "files/labels.txt", "'abc'"]),
    "file-size-not-a-number": (_edit(lambda m: m["files"]["model.onnx"].update(size="big")),
                               ["manifest.json", "files/model.onnx/size", "'big'"]),
    "file-name-climbs-out": (_set_file_entry("../../etc/passwd", {"sha256": "0" * 64, "size": 1}),
                             ["manifest.json", "'../../etc/passwd'"]),
    "nc-not-a-number": (_set(nc="three"), ["manifest.json", "'nc'", "'three'"]),
    "names-not-a-list": (_set(names=5), ["manifest.json", "'names'", "5"]),
    "input-size-not-a-pair": (_set(input_size=[640]), ["manifest.json", "'input_size'", "[640]"]),
    "id-not-name-version": (_set(id="other-9.9.9"), ["manifest.json", "'id'", "'other-9.9.9'"]),
    "name-with-a-path": (_set(name="../evil", id="../evil-1.0.0"), ["manifest.json", "'../evil'"]),
    # the model itself against what its manifest says (rehashed, so only the model check sees these)
    "model-not-onnx": (_replace_model(b"PK\x03\x04 a zip, not a model" * 64),
                       ["shapes-1.0.0/model.onnx", "not an ONNX model"]),
    "model-an-empty-file": (_replace_model(b""), ["shapes-1.0.0/model.onnx", "not an ONNX model"]),
    "opset-differs-from-the-model": (_set(opset=13), ["shapes-1.0.0/model.onnx", "opset 12", "opset 13"]),
    "input-size-differs-from-the-model": (_set(input_size=[128, 128]),
                                          ["shapes-1.0.0/model.onnx", "[1, 3, 64, 64]", "[1, 3, 128, 128]"]),
    "dynamic-batch-the-model-lacks": (_set(batch=None), ["shapes-1.0.0/model.onnx", "dynamic"]),
}


@pytest.mark.parametrize("breaks, needles", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_bundle_is_refused_naming_the_bundle_and_what(tmp_path, y7, refused, bundle, breaks, needles):
    copy = tmp_path / "releases" / bundle.name
    shutil.copytree(bundle, copy)
    breaks(copy)
    refused(y7("release", "show", bundle.name, "--dir", "releases"), *needles)


def test_the_unbroken_bundle_is_shown(tmp_path, y7, bundle):
    """The control: the same copy, unbroken, passes, so each refusal above is the break's doing."""
    shutil.copytree(bundle, tmp_path / "releases" / bundle.name)
    proc = y7("release", "show", bundle.name, "--dir", "releases")
    assert proc.returncode == 0 and "verified" in proc.stdout, proc.stdout + proc.stderr


def test_release_list_names_each_broken_bundle_and_keeps_the_good_ones(tmp_path, y7, bundle):
    good = tmp_path / "releases" / bundle.name
    shutil.copytree(bundle, good)
    bad = tmp_path / "releases" / "shapes-1.0.1"
    shutil.copytree(bundle, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest.update(version="1.0.1", id="shapes-1.0.1", schema=2)
    (bad / "manifest.json").write_text(json.dumps(manifest))
    proc = y7("release", "list", "--dir", "releases", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {r["id"]: r for r in json.loads(proc.stdout)}
    assert listed["shapes-1.0.0"]["ok"] is True
    assert listed["shapes-1.0.1"]["ok"] is False and "schema 2" in listed["shapes-1.0.1"]["problem"]
