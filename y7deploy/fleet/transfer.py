"""Content-addressed uploads over a plain exec channel.

Decide from facts, then act: the remote sha256 is compared first and nothing is
sent when it matches. Otherwise the bytes go to a temporary name beside the
target, are checked against the sha256, and only then renamed over it, so a
reader never sees half a file. A transfer cut by a dropped link leaves the
temporary file; the next attempt sends only what is missing.

Why not SFTP: paramiko's SFTP waits on a reply per 32 KiB write unless
pipelined, and even then costs a Python round of request bookkeeping per block.
Streaming the bytes into one process on an exec channel is one flow-controlled
stream, the same work OpenSSH's scp asks of the link (bench/upload.py measures
both). The host hashes while it writes (python3's hashlib when the host has it,
which uses the CPU's SHA instructions; else coreutils' tee | sha256sum), and we
hash our side in a thread meanwhile, so verification costs no second pass.
There is no fsync: the rename replaces a file atomically, and ext4 flushes
the data of a file renamed over another before the rename is committed.

Two paths:
- small content (<= SMALL): one round trip. The bytes are sent with a script that
  compares, writes, verifies and renames;
- large files: one round trip to learn the remote size, sha (cached on the host,
  keyed by inode and ctime, so an unchanged 50 MB file is not re-hashed on every
  run) and any partial upload; then one stream; then one rename.

Owner and mode of a replaced file are kept unless `mode` is given. Stale temp
files of other versions of the same target are removed after a rename.

Remote needs: POSIX sh and GNU coreutils (stat -c, sha256sum, truncate, tee, head).
The host-side sums cache is fleet/shell.py's, shared with modules/base.py's stat probe.

Like Fabric's Transfer(connection), this takes a connection and never imports the
connection layer: `Transfer(conn).put_file(...)`, or the functions with conn first.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from y7deploy.fleet import localsums
from y7deploy.fleet.convert import normalize_mode
from y7deploy.fleet.shell import SUMS_DIR, SUMS_SIGNATURE, cached_sha256, quote_argv, record_sha256, sums_key



class Connection(Protocol):
    """What an upload needs of a connection (fleet/connection.py's Connection has it)."""

    name: str

    def run(self, command: str, *, sudo: bool = False) -> "_Result": ...

    def start(self, command: str, *, sudo: bool = False) -> "_Stream": ...


class _Result(Protocol):
    exit_code: int
    stdout: str
    stderr: str


class _Stream(Protocol):
    def send(self, data: bytes | memoryview) -> None: ...

    def finish(self) -> tuple[bytes, bytes, int]: ...

SMALL = 512 * 1024  # below this, one round trip: always send, let the host compare
CHUNK = 4 * 1024 * 1024
PART_MARK = ".y7part-"
__all__ = ["SUMS_DIR", "SUMS_SIGNATURE", "Transfer", "TransferError", "TransferReport", "file_sha256",
           "forget_local_sums", "part_name", "put_bytes", "put_file", "sums_key"]


class Transfer:
    """Uploads over one connection (anything with run/start/name, as Fabric's Transfer takes its
    Connection): put_bytes and put_file make the remote path hold exactly those bytes."""

    def __init__(self, conn: "Connection"):
        self.conn = conn

    def put_bytes(self, data: bytes, remote: str, *, mode: int | str | None = None, sudo: bool = False,
                  report: "TransferReport | None" = None) -> bool:
        return put_bytes(self.conn, data, remote, mode=mode, sudo=sudo, report=report)

    def put_file(self, local: str | os.PathLike, remote: str, *, mode: int | str | None = None,
                 sudo: bool = False, report: "TransferReport | None" = None) -> bool:
        return put_file(self.conn, local, remote, mode=mode, sudo=sudo, report=report)


class TransferError(Exception):
    """The host refused or corrupted an upload (permissions, missing directory, disk full)."""


@dataclass
class TransferReport:
    """What one upload did; pass one in to see it (tests and the bench do)."""

    changed: bool = False
    bytes_sent: int = 0
    resumed_from: int = 0
    skipped: bool = False


def part_name(remote: str, key: str) -> str:
    """The temporary name an upload to `remote` writes before the rename."""
    head, _, base = remote.rpartition("/")
    return f"{head}/.{base}{PART_MARK}{key}" if head or remote.startswith("/") else f".{base}{PART_MARK}{key}"


def _mode_arg(mode: int | str | None) -> str:
    """chmod's argument, as `stat -c %a` prints it ("0644" -> "644"), or "" for none."""
    return normalize_mode(mode) or ""


def _set_mode(m: str) -> str:
    """Shell that gives $r mode `m` and prints mode-changed if that changed anything."""
    if not m:
        return ""
    if m.isdigit():  # one stat in the usual case that it is already right
        return f'[ "$(stat -c %a -- "$r")" = {m} ] || {{ chmod {m} -- "$r" || exit 4; echo mode-changed; }}; '
    return (f'b=$(stat -c %a -- "$r"); chmod {quote_argv([m])} -- "$r" || exit 4; '
            '[ "$b" = "$(stat -c %a -- "$r")" ] || echo mode-changed; ')


# Reads $r (target), $t (temp), $m (mode or empty), $s (its sha256), $k (its key in the sums cache).
_FINALIZE = (
    'if [ -e "$r" ]; then chown --reference="$r" -- "$t" 2>/dev/null; chmod --reference="$r" -- "$t"; fi; '
    '[ -z "$m" ] || chmod "$m" -- "$t" || exit 4; '
    'mv -f -- "$t" "$r" || exit 4; rm -f -- "$t" "${t%-*}"-* 2>/dev/null; '
    + record_sha256() + 'echo changed'
)


def _vars(**values: str) -> str:
    return "".join(f"{k}={quote_argv([v])}; " for k, v in values.items())


def _check(result_code: int, out: str, err: str, conn: "Connection", remote: str) -> str:
    if result_code != 0:
        detail = err.strip().splitlines()[-1] if err.strip() else f"exit code {result_code}"
        raise TransferError(f"{conn.name}:{remote}: {detail}")
    return out


def put_bytes(conn: "Connection", data: bytes, remote: str, *, mode: int | str | None = None,
              sudo: bool = False, report: TransferReport | None = None) -> bool:
    """Make `remote` hold exactly `data` (and `mode` if given). True if anything changed."""
    report = report if report is not None else TransferReport()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > SMALL:
        source = _Source(len(data), digest[:16], digest, lambda: digest, lambda _: None,
                         lambda start, end: _slices(data, start, end))
        return _put_large(conn, source, remote, mode, sudo, report)
    t = part_name(remote, digest[:16])
    script = _vars(r=remote, t=t, m=_mode_arg(mode), s=digest, k=sums_key(remote)) + (
        'if [ -f "$r" ] && [ "$(sha256sum < "$r")" = "$s  -" ]; then '
        'cat > /dev/null; ' + _set_mode(_mode_arg(mode)) + 'echo same; exit 0; fi; '
        'cat > "$t" || { rm -f -- "$t"; exit 4; }; '
        '[ "$(sha256sum < "$t")" = "$s  -" ] || { rm -f -- "$t"; echo "checksum mismatch" >&2; exit 3; }; '
        + _FINALIZE
    )
    running = conn.start(script, sudo=sudo)
    running.send(data)
    out, err, code = running.finish()
    text = _check(code, out.decode(), err.decode("utf-8", "replace"), conn, remote)
    report.bytes_sent = len(data)
    report.skipped = "same" in text
    report.changed = "changed" in text
    return report.changed


def put_file(conn: "Connection", local: str | os.PathLike, remote: str, *, mode: int | str | None = None,
             sudo: bool = False, report: TransferReport | None = None) -> bool:
    """Make `remote` a copy of the local file (and `mode` if given). True if anything changed."""
    report = report if report is not None else TransferReport()
    path = Path(local)
    st = path.stat()
    if st.st_size <= SMALL:
        return put_bytes(conn, path.read_bytes(), remote, mode=mode, sudo=sudo, report=report)
    source = _Source(st.st_size, file_key(path), localsums.known(path), lambda: localsums.local_sha256(path),
                     lambda digest: localsums.remember(path, digest),
                     lambda start, end: _file_chunks(path, start, end))
    return _put_large(conn, source, remote, mode, sudo, report)


def file_key(path: str | os.PathLike) -> str:
    """Names the temp file of an upload of this local file: the same file (path, size, mtime)
    resumes into the same name; see part_name()."""
    p = Path(path)
    st = p.stat()
    return hashlib.sha256(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def forget_local_sums() -> None:
    """Forget the hashes of local files (the bench does, to time cold uploads)."""
    localsums.forget()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a local file, read only when it changed since it was last hashed."""
    return localsums.local_sha256(path)


@dataclass
class _Source:
    """What to upload: its size; a key naming the temp file (same content, same name, so a
    retry resumes); its sha256 if already known, else how to compute it (only when the host
    holds a file of the same size) and where to remember the one computed while sending;
    and its bytes between two offsets."""

    size: int
    key: str
    known_sha: str | None
    compute_sha: Callable[[], str]
    remember_sha: Callable[[str], None]
    chunks: Callable[[int, int], Iterator[memoryview]]


def _slices(data: bytes, start: int, end: int) -> Iterator[memoryview]:
    view = memoryview(data)
    for i in range(start, end, CHUNK):
        yield view[i:min(i + CHUNK, end)]


def _file_chunks(path: Path, start: int, end: int) -> Iterator[memoryview]:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        left = end - start
        while left > 0 and (n := f.readinto(view[:min(left, CHUNK)])):
            left -= n
            yield view[:n]


def _put_large(conn: "Connection", src: _Source, remote: str, mode: int | str | None, sudo: bool,
               report: TransferReport) -> bool:
    t = part_name(remote, src.key)
    k = sums_key(remote)
    m = _mode_arg(mode)
    hasher = ('if command -v python3 >/dev/null 2>&1; then python3 -c "$p" "$r"; '
              'else sha256sum < "$r" | cut -c1-64; fi')
    probe = _vars(t=t, want=str(src.size), p=_HASH_PY) + (
        f'if [ -f {quote_argv([remote])} ]; then set -- $(stat -c "%s %a" -- {quote_argv([remote])}); sum=; '
        'if [ "$1" = "$want" ]; then ' + cached_sha256(quote_argv([remote]), k, hasher) + 'fi; '
        'echo "file $1 $2 $sum"; fi; '
        '[ -f "$t" ] && echo "part $(stat -c %s -- "$t")"; exit 0'
    )
    res = conn.run(probe, sudo=sudo)
    text = _check(res.exit_code, res.stdout, res.stderr, conn, remote)
    facts = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    local_sha = src.known_sha
    if "file" in facts and len(facts["file"]) == 3:  # same size there: only now is our hash needed first
        local_sha = local_sha or src.compute_sha()
        if facts["file"][2] == local_sha:
            report.skipped = True
            if m:
                res = conn.run(_vars(r=remote) + _set_mode(m), sudo=sudo)
                report.changed = "mode-changed" in _check(res.exit_code, res.stdout, res.stderr, conn, remote)
            return report.changed
    part = int(facts["part"][0]) if "part" in facts else 0
    offset = part if 0 < part <= src.size else 0
    sent_sha, hashed = _stream(conn, src, t, offset, sudo, report, hash_locally=local_sha is None)
    local_sha = local_sha or hashed
    src.remember_sha(local_sha)
    if sent_sha != local_sha and offset:
        sent_sha, _ = _stream(conn, src, t, 0, sudo, report)  # the partial file was not ours: start over
    if sent_sha != local_sha:
        conn.run(quote_argv(["rm", "-f", "--", t]), sudo=sudo)
        raise TransferError(f"{conn.name}:{remote}: checksum mismatch after upload")
    res = conn.run(_vars(r=remote, t=t, m=m, s=sent_sha, k=k) + _FINALIZE, sudo=sudo)
    report.changed = "changed" in _check(res.exit_code, res.stdout, res.stderr, conn, remote)
    return report.changed


# Scripts run by the host's python3 must work on JetPack 4's Python 3.6.
# The receiving end of a stream: append stdin to the temp file after `offset` bytes, hashing
# the whole file as it goes. Python's hashlib uses the CPU's SHA extensions where coreutils'
# sha256sum does not (about 5x faster on the same core), so python3 is used when the host
# has it (JetPack does); the coreutils pipeline is the fallback.
_RECEIVER_PY = """
import hashlib, os, sys
temp, offset = sys.argv[1], int(sys.argv[2])
h = hashlib.sha256()
buf = bytearray(1 << 20)
view = memoryview(buf)
fd = os.open(temp, os.O_RDWR | os.O_CREAT, 0o666)
os.ftruncate(fd, offset)
left = offset
while left > 0:
    n = os.readv(fd, [view[:min(left, len(buf))]])
    if not n:
        break
    h.update(view[:n])
    left -= n
stdin = sys.stdin.buffer.raw
try:  # a 1 MiB pipe from sshd: fewer wake-ups per MB (F_SETPIPE_SZ, Linux)
    import fcntl
    fcntl.fcntl(0, 1031, 1 << 20)
except (ImportError, OSError):
    pass
try:
    while True:
        n = stdin.readinto(buf)
        if not n:
            break
        h.update(view[:n])
        done = 0
        while done < n:
            done += os.write(fd, view[done:n])
except OSError as exc:
    if exc.errno in (28, 122):  # ENOSPC, EDQUOT: a part kept on a full disk only keeps it full
        os.close(fd)
        os.unlink(temp)
    raise
print(h.hexdigest())
"""
_HASH_PY = """
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
"""
_RECEIVER_SH = (
    'truncate -s "$o" -- "$t" || exit 4; { head -c "$o" -- "$t"; tee -a -- "$t"; } | sha256sum | cut -c1-64'
)


def _stream(conn: "Connection", src: _Source, t: str, offset: int, sudo: bool, report: TransferReport,
            hash_locally: bool = False) -> tuple[str, str]:
    """Send the bytes from `offset` on, appending to `t`. Returns the sha256 the host computed of
    all of `t` and, if asked, ours of the same bytes, computed as they go (no second read)."""
    script = _vars(t=t, o=str(offset), p=_RECEIVER_PY) + (
        'if command -v python3 >/dev/null 2>&1; then exec python3 -c "$p" "$t" "$o"; fi; ' + _RECEIVER_SH
    )
    ours = hashlib.sha256() if hash_locally else None
    if ours is not None:
        for chunk in src.chunks(0, offset):
            ours.update(chunk)
    running = conn.start(script, sudo=sudo)
    report.resumed_from = offset
    for chunk in src.chunks(offset, src.size):
        running.send(chunk)
        if ours is not None:
            ours.update(chunk)
        report.bytes_sent += len(chunk)
    out, err, code = running.finish()
    theirs = _check(code, out.decode(), err.decode("utf-8", "replace"), conn, t).strip()
    return theirs, ours.hexdigest() if ours is not None else ""
