"""DeepStream-Yolo's output parser on a device: which build a host uses and where it lies.

provision.yml builds `nvdsinfer_custom_impl_Yolo` once per (source, CUDA_VER[, OpenCV]) into
<root>/lib/<src-sha>-cuda<X.Y>[-opencv]/; push names that library in each host's nvinfer
config. Both compute the same src-sha from the workstation's checkout, so push knows the
path without asking the device.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

PARSER_LIB = "libnvdsinfer_custom_impl_Yolo.so"
PARSER_DIR = "nvdsinfer_custom_impl_Yolo"

# CUDA_VER for DeepStream-Yolo's Makefile on a Jetson, by DeepStream version (its README;
# provision.yml holds the same table and builds nothing for a version not in it).
DEEPSTREAM_CUDA = {"7.1": "12.6", "7.0": "12.2", "6.4": "12.2", "6.3": "11.4", "6.2": "11.4", "6.1.1": "11.4",
                   "6.1": "11.4", "6.0.1": "10.2", "6.0": "10.2", "5.1": "10.2"}


def tree_sha(tree: str | os.PathLike) -> str:
    """src-sha of a parser source tree, every file at any depth: the first 16 hex digits of
    the sha256 of `sha256sum`'s lines ("<sha256>  ./<path>") in C-locale byte order of the
    path, as provision.yml computes it with find | sort -z | xargs sha256sum | sha256sum."""
    root = Path(tree)
    paths = sorted((b"./" + os.fsencode(p.relative_to(root)) for p in root.rglob("*")
                    if p.is_file() and not p.is_symlink()), key=bytes)
    outer = hashlib.sha256()
    for rel in paths:
        inner = hashlib.sha256()
        with open(root / os.fsdecode(rel[2:]), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(inner.hexdigest().encode() + b"  " + rel + b"\n")
    return outer.hexdigest()[:16]


def cuda_ver(facts: Mapping[str, Any]) -> str:
    """The CUDA_VER provision builds this host's parser with ('' when the table lacks its DeepStream)."""
    return DEEPSTREAM_CUDA.get(str(facts.get("deepstream") or ""), "")


def lib_path(root: str, src_sha: str, cuda: str, opencv: bool = False) -> str:
    """<root>/lib/<src-sha>-cuda<X.Y>[-opencv]/libnvdsinfer_custom_impl_Yolo.so."""
    return f"{root}/lib/{src_sha}-cuda{cuda}{'-opencv' if opencv else ''}/{PARSER_LIB}"
