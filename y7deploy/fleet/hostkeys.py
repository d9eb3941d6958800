"""Host key verification the way OpenSSH does it: known_hosts first, never auto-add.

A host whose key is unknown is refused, with the key's SHA256 fingerprint and
the ways to accept it; a host whose key changed is refused loudly. Only in
accept-new mode (`--accept-new-host-keys`, or `StrictHostKeyChecking` set to
`accept-new` or `no` in the inventory) is an unknown key recorded; a changed
key is refused in every mode. Treating `no` as `accept-new` is deliberate: an
inventory written for Ansible's "don't bother me" setting keeps working, but a
man in the middle of a known host is still caught.

Known-hosts files are read in the order given (hashed `|1|` entries too); the
record file for accept-new is the first one the host spec names.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import fnmatch
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import paramiko

# Host key algorithms to offer first when known_hosts already holds a key of that type,
# so the server shows us the key we know (OpenSSH does the same).
_ALGORITHMS_FOR_TYPE = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


class HostKeyError(Exception):
    """Base of the two refusals; the message says what to do."""


class HostKeyUnknown(HostKeyError):
    pass


class HostKeyChanged(HostKeyError):
    pass


@dataclass(frozen=True)
class KnownHostsPolicy:
    """Where to look for keys and what to do with an unknown one.

    files: known_hosts files to trust, in order; record_to: where accept-new writes.
    """

    files: tuple[str, ...]
    record_to: str
    accept_new: bool = False


def known_host_name(host: str, port: int) -> str:
    """The name a key is filed under: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """`SHA256:...` exactly as `ssh-keygen -lf` prints it."""
    return key.fingerprint


def key_label(key: paramiko.PKey) -> str:
    """`ED25519 SHA256:...` as OpenSSH names a key in its messages."""
    kind = key.get_name().replace("ssh-", "").split("-")[0].upper()
    return f"{kind} {fingerprint(key)}"


def _matches(patterns: str, name: str) -> bool:
    """Does a known_hosts host field match `name`? Hashed `|1|salt|hmac`, or comma-separated
    patterns with `*`/`?` wildcards and `!` negation, as OpenSSH reads them."""
    if patterns.startswith("|1|"):
        try:
            _, _, salt, digest = patterns.split("|", 3)
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, binascii.Error):
            return False
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        if fnmatch.fnmatchcase(name.lower(), pattern[1:] if negated else pattern):
            if negated:
                return False
            matched = True
    return matched


def _keys_in(path: str, name: str) -> list[paramiko.PKey]:
    """The keys one known_hosts file holds for `name`; one pass, no per-entry rehashing
    (paramiko's HostKeys.load is quadratic in hashed entries). @cert-authority lines are
    skipped; a key marked @revoked is never returned."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []  # missing or unreadable: trusts nothing, like OpenSSH
    keys: list[paramiko.PKey] = []
    revoked: set[str] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        marker = fields.pop(0) if fields[0].startswith("@") else None
        if len(fields) < 3 or marker == "@cert-authority" or not _matches(fields[0], name):
            continue
        if marker == "@revoked":
            revoked.add(fields[2])
            continue
        try:
            keys.append(paramiko.PKey.from_type_string(fields[1], base64.b64decode(fields[2])))
        except (paramiko.SSHException, ValueError, binascii.Error):
            continue  # a key type paramiko cannot read cannot vouch for anything
    return [k for k in keys if k.get_base64() not in revoked]


def known_keys(policy: KnownHostsPolicy, host: str, port: int,
               alias: str | None = None) -> list[tuple[str, paramiko.PKey]]:
    """Every (file, key) on record for this host and port (or for HostKeyAlias, used verbatim as ssh does)."""
    name = alias or known_host_name(host, port)
    return [(path, key) for path in policy.files for key in _keys_in(path, name)]


def preferred_key_types(known: list[tuple[str, paramiko.PKey]], offered: tuple[str, ...]) -> tuple[str, ...]:
    """The client's host key algorithm list with the types we already know moved to the front."""
    first: list[str] = []
    for _, key in known:
        for alg in _ALGORITHMS_FOR_TYPE.get(key.get_name(), (key.get_name(),)):
            if alg in offered and alg not in first:
                first.append(alg)
    return tuple(first) + tuple(a for a in offered if a not in first)


def verify(policy: KnownHostsPolicy, label: str, host: str, port: int, key: paramiko.PKey,
           alias: str | None = None) -> bool:
    """Check the key a server presented. Returns True when it was newly recorded.

    label: the inventory name, for messages. Raises HostKeyChanged / HostKeyUnknown.
    """
    known = known_keys(policy, host, port, alias)
    same_type = [(path, k) for path, k in known if k.get_name() == key.get_name()]
    if any(k == key for _, k in same_type):
        return False
    name = alias or known_host_name(host, port)
    if same_type:
        path, old = same_type[0]
        raise HostKeyChanged(
            f"HOST KEY CHANGED for {label} ({name}): it now offers {key_label(key)} but {path} "
            f"has {key_label(old)}. Someone may be intercepting the connection, or the device was "
            f"reinstalled. Refusing to connect. If the change is expected: ssh-keygen -R '{name}' -f {path}"
        )
    if not policy.accept_new:
        raise HostKeyUnknown(
            f"unknown host key for {label} ({name}): {key_label(key)}. Check it, then accept it with "
            f"--accept-new-host-keys, or add it yourself: ssh-keyscan -p {port} {host} >> {policy.record_to} "
            f"(or connect once with ssh)"
        )
    record(policy.record_to, name, key)
    return True


def record(path: str, name: str, key: paramiko.PKey) -> None:
    """Append one known_hosts line; safe when several hosts are accepted at once."""
    target = Path(os.path.expanduser(path))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{name} {key.get_name()} {key.get_base64()}\n".encode()
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size:
            with open(target, "rb") as f:  # a file not ending in newline must not glue two lines
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
    finally:
        os.close(fd)
