"""sha256 of workstation files, each read once: kept on disk (~/.cache/y7deploy/local-sums,
one small file per path, keyed by size, mtime and inode) so an unchanged 50 MB file is not
re-read on the next run, and in a run's memo so ten hosts cost one lookup. Forgetting any
of it costs only time, never a wrong answer."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any


def _store_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "y7deploy" / "local-sums"


def _signature(path: Path) -> tuple[Path, str]:
    st = path.stat()
    store = _store_dir() / hashlib.sha1(str(path.resolve()).encode()).hexdigest()
    return store, f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def known(path: str | os.PathLike, memo: dict[str, Any] | None = None) -> str | None:
    """The file's sha256 if it was hashed since it last changed, else None (nothing is read)."""
    path = Path(path)
    store, signature = _signature(path)
    key = f"sha256:{path}:{signature}"
    if memo is not None and key in memo:
        return memo[key]
    try:
        saved_signature, saved_sum = store.read_text().split()
    except (OSError, ValueError):
        return None
    if saved_signature != signature:
        return None
    if memo is not None:
        memo[key] = saved_sum
    return saved_sum


def remember(path: str | os.PathLike, digest: str, memo: dict[str, Any] | None = None) -> None:
    """Record the sha256 computed for the file as it is now."""
    path = Path(path)
    store, signature = _signature(path)
    if memo is not None:
        memo[f"sha256:{path}:{signature}"] = digest
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(store.name + f".tmp{os.getpid()}")
        tmp.write_text(f"{signature} {digest}\n")
        os.replace(tmp, store)
    except OSError:
        pass  # a read-only home only costs the re-hash


def local_sha256(path: str | os.PathLike, memo: dict[str, Any] | None = None) -> str:
    """The file's sha256, from the memo or the disk cache when unchanged, else read and recorded."""
    found = known(path, memo)
    if found is not None:
        return found
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    remember(path, digest.hexdigest(), memo)
    return digest.hexdigest()


def forget() -> None:
    """Drop every recorded sum (the bench does, to time cold uploads)."""
    shutil.rmtree(_store_dir(), ignore_errors=True)
