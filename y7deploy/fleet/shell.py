"""What the fleet sends to a host's POSIX shell, in one place: quoting (every value that
reaches a shell goes through `quote`), and the host-side cache of file hashes that the
uploader writes and the stat probe reads.

The cache: one file per target path under SUMS_DIR, named sums_key(path), holding one line
"SIGNATURE SHA256", where the signature (dev:inode:size:ctime) changes with any write,
chmod or rename of the file. An unchanged 50 MB file is never re-read on a re-run; a stale
or missing entry only costs a re-hash, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any, Iterable

SUMS_DIR = '"${XDG_CACHE_HOME:-$HOME/.cache}/y7deploy/sums"'
# Prints the signature of the file at $r.
SUMS_SIGNATURE = 'stat -c "%d:%i:%s:%z" -- "$r" | tr " " _'


def quote(value: Any) -> str:
    """One value as one literal word for the remote shell."""
    return shlex.quote(str(value))


def quote_argv(argv: Iterable[Any]) -> str:
    """A shell command line that passes each item as one literal argument."""
    return " ".join(quote(a) for a in argv)


def sums_key(remote: str) -> str:
    """The cache entry's name for a target path."""
    return hashlib.sha256(remote.encode()).hexdigest()[:32]


def cached_sha256(path: str, key: str, hasher: str = 'sha256sum < "$r" | cut -c1-64') -> str:
    """Shell that sets $sum to the sha256 of the file at `path` (a shell word: quoted, or "$1"),
    from the cache when its signature still matches, else by `hasher` (reads $r), recording it.
    Also sets $r to the path and $sig to its signature."""
    return (f'r={path}; sig=$({SUMS_SIGNATURE}); c={SUMS_DIR}/{key}; sum=; '
            '[ -f "$c" ] && read -r csig csum < "$c" && [ "$csig" = "$sig" ] && sum=$csum; '
            f'[ -n "$sum" ] || {{ sum=$({hasher}); '
            '{ mkdir -p "${c%/*}" && printf "%s %s\\n" "$sig" "$sum" > "$c"; } 2>/dev/null; }; ')


def record_sha256(key_var: str = "$k", sum_var: str = "$s") -> str:
    """Shell that records `sum_var` as the sha256 of the file at $r (just written by us)."""
    return (f'd={SUMS_DIR}; {{ mkdir -p "$d" && printf "%s %s\\n" "$({SUMS_SIGNATURE})" "{sum_var}" '
            f'> "$d/{key_var}"; }} 2>/dev/null; ')
