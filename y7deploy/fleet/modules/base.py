"""What every module shares: its argument spec, the context it runs in, and the one remote
command that reads a path's whole state (type, mode, owner, sha256) in a single round trip.

A module decides from facts, acts only when the facts differ from the wanted state, and
returns an Ansible-shaped result dict: changed, failed, skipped, msg, diff, plus its own keys.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from y7deploy.errors import UserError


@dataclass(frozen=True)
class Spec:
    """The arguments a module accepts; checked when the playbook loads."""

    args: dict[str, str]  # name -> kind: str, bool, int, float, list, dict, mode, any
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()  # at least one of each group
    free_form: bool = False  # `command: echo hi` style
    local: bool = False  # runs on the workstation only (debug, assert, set_fact)
    aliases: dict[str, str] = field(default_factory=dict)

    def validate(self, args: dict[str, Any], where: str, module: str) -> None:
        for alias, real in self.aliases.items():
            if alias in args:
                args[real] = args.pop(alias)
        allowed = set(self.args) | ({"_raw_params"} if self.free_form else set())
        if not self.args and module == "set_fact":
            return
        for key in args:
            if key not in allowed:
                raise UserError(f"{where}: {module}: unknown argument {key!r} "
                                f"(known: {', '.join(sorted(self.args))})")
        for key in self.required:
            if key not in args:
                raise UserError(f"{where}: {module}: missing required argument {key!r}")
        for group in self.one_of:
            if not any(k in args for k in group):
                raise UserError(f"{where}: {module}: needs one of {', '.join(group)}")


@dataclass
class ModuleContext:
    """Everything a module may use: the host's connection, its variables, the run's modes."""

    host: str
    conn: Any  # y7deploy.fleet.connection.Connection (or None for local modules)
    check: bool
    diff: bool
    become: bool
    variables: Any  # templating.HostVars
    templar: Any  # templating.Templar
    base_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    set_facts: Callable[[dict[str, Any]], None] = lambda facts: None
    local_cache: dict[str, Any] = field(default_factory=dict)  # shared across hosts in a run
    probes: dict[tuple[str, bool], str] | None = None  # stat outputs read ahead by the runner

    def stat(self, path: str, with_hash: bool = True) -> tuple[int, str, str]:
        """A path's state (stat_command's output): from the runner's read-ahead when it has it."""
        if self.probes:
            for key in ((path, with_hash), (path, True)):
                if key in self.probes:
                    return 0, self.probes[key], ""
        return self.run(stat_command(path, with_hash))

    def run(self, command: str, *, stdin: bytes | str | None = None,
            timeout: float | None = None) -> tuple[int, str, str]:
        """Run one shell command on the host; returns (rc, stdout, stderr) as text."""
        result = self.conn.run(command, sudo=self.become, stdin=stdin, timeout=timeout,
                               env=self.environment or None)
        return result.exit_code, _text(result.stdout), _text(result.stderr)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def q(value: Any) -> str:
    """Quote one value for the remote POSIX shell. Every value a module sends goes through this."""
    return shlex.quote(str(value))


def failed(msg: str, **extra: Any) -> dict[str, Any]:
    return {"failed": True, "changed": False, "msg": msg, **extra}


# --- a path's state, read in one command ----------------------------------------------------

STAT_SCRIPT = (
    'f={path}; if [ -L "$f" ]; then echo "type=link"; echo "target=$(readlink -- "$f")"; '
    'elif [ -d "$f" ]; then echo type=directory; '
    'elif [ -f "$f" ]; then echo type=file; {hash}'
    'elif [ -e "$f" ]; then echo type=other; else echo type=absent; fi; '
    r'''[ -e "$f" ] || [ -L "$f" ] && stat --printf 'mode=%a\nowner=%U\ngroup=%G\nsize=%s\n' -- "$f"; true'''
)


# A large file's sha256 is read from the host-side cache the uploader keeps (fleet/transfer.py:
# one line "dev:inode:size:ctime sha256" per target path), and hashed only when that
# signature no longer matches: an unchanged 50 MB file is never re-read on a re-run.
CACHED_HASH = (
    'c="{sums}/{key}"; r="$f"; sig=$({signature}); sum=; '
    '[ -f "$c" ] && read -r csig csum < "$c" && [ "$csig" = "$sig" ] && sum=$csum; '
    '[ -n "$sum" ] || {{ sum=$(sha256sum < "$f" | cut -c1-64); '
    '{{ mkdir -p "{sums}" && echo "$sig $sum" > "$c"; }} 2>/dev/null; }}; echo "sha256=$sum"; '
)


def stat_command(path: str, with_hash: bool = True) -> str:
    """One shell command printing key=value lines: type, mode, owner, group, size, sha256."""
    from y7deploy.fleet import transfer

    digest = ""
    if with_hash:
        # the uploader's own cache location and key, so both agree on what the host holds
        # (private names of fleet/transfer.py: a mismatch only costs a re-hash, never a wrong answer)
        digest = CACHED_HASH.format(sums=transfer.SUMS_DIR.strip('"'), key=transfer.sums_key(path),
                                    signature=transfer.SUMS_SIGNATURE)
    return STAT_SCRIPT.format(path=q(path), hash=digest)


def stat_many_command(paths: list[str] | list[tuple[str, bool]], with_hash: bool = True) -> str:
    """One shell command printing every path's state (stat_command's lines), each after a
    `@@y7stat N` marker line. A path may come as (path, with_hash). The per-path script is a
    shell function, so a tree of hundreds of files stays a short command line."""
    from y7deploy.fleet import transfer

    digest = "if [ -n \"$2\" ]; then " + CACHED_HASH.format(
        sums=transfer.SUMS_DIR.strip('"'), key="$2", signature=transfer.SUMS_SIGNATURE) + "fi; "
    body = STAT_SCRIPT.format(path='"$1"', hash=digest)
    calls = []
    for i, item in enumerate(paths):
        path, hashed = item if isinstance(item, tuple) else (item, with_hash)
        calls.append(f"echo @@y7stat{i}; _y7stat {q(path)} {transfer.sums_key(path) if hashed else ''}; ")
    return f"_y7stat() {{ {body}; }}; {''.join(calls)}true"


def split_stat_many(output: str, count: int) -> list[str | None]:
    """stat_many_command's output cut into each path's own lines (stat_command's output);
    None for a path the output never reached."""
    chunks: dict[int, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("@@y7stat"):
            current = int(line[len("@@y7stat"):])
            chunks[current] = []
        elif current is not None:
            chunks[current].append(line)
    return ["\n".join(chunks[i]) if i in chunks else None for i in range(count)]


def parse_stat_many(output: str, count: int) -> list[dict[str, str]]:
    """stat_many_command's output, one parsed state per path, in order."""
    return [parse_stat(text or "") for text in split_stat_many(output, count)]


def parse_stat(output: str) -> dict[str, str]:
    state: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key not in state:
            state[key] = value
    state.setdefault("type", "absent")
    return state


def normalize_mode(mode: Any) -> str | None:
    """'0644', 0o644 (YAML's 0644 reads as an int), '644' -> '644'; symbolic modes pass through."""
    if mode is None:
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        return format(mode, "o")
    text = str(mode).strip()
    if text.isdigit():
        return format(int(text, 8), "o")
    return text


def mode_matches(wanted: str | None, current: str | None) -> bool:
    if wanted is None:
        return True
    if not wanted.isdigit():
        return False  # symbolic: apply and let chmod decide
    return current is not None and int(current, 8) == int(wanted, 8)


def attribute_fixes(path: str, state: dict[str, str], mode: str | None, owner: Any,
                    group: Any) -> list[str]:
    """The chmod/chown commands needed to bring path's attributes to what was asked."""
    cmds: list[str] = []
    if owner is not None and state.get("owner") != str(owner):
        cmds.append(f"chown {q(owner)} -- {q(path)}")
    if group is not None and state.get("group") != str(group):
        cmds.append(f"chgrp {q(group)} -- {q(path)}")
    if mode is not None and not mode_matches(mode, state.get("mode")):
        cmds.append(f"chmod {q(mode)} -- {q(path)}")
    return cmds


def local_sha256(path: Path, cache: dict[str, Any]) -> str:
    """sha256 of a workstation file: once per run however many hosts need it, and kept on disk
    (keyed by path, size, mtime and inode) so an unchanged 50 MB file is not re-read next run."""
    st = path.stat()
    signature = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    key = f"sha256:{path}:{signature}"
    if key in cache:
        return cache[key]
    store = _local_sums_dir() / hashlib.sha1(str(path.resolve()).encode()).hexdigest()
    try:
        saved_signature, saved_sum = store.read_text().split()
        if saved_signature == signature:
            cache[key] = saved_sum
            return saved_sum
    except (OSError, ValueError):
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    cache[key] = digest.hexdigest()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(".tmp")
        tmp.write_text(f"{signature} {cache[key]}\n")
        os.replace(tmp, store)
    except OSError:
        pass  # a read-only home only costs the re-hash
    return cache[key]


def _local_sums_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "y7deploy" / "local-sums"


def looks_text(data: bytes) -> bool:
    return b"\x00" not in data[:8192]


DIFF_LIMIT = 64 * 1024


# Ansible's sets (module_utils.parsing.convert_bool); anything else is an error, not False.
TRUTHY = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSY = frozenset({"n", "no", "off", "0", "false", "f", ""})


def parse_bool(value: Any) -> bool:
    """A playbook boolean as Ansible reads it: yes/no, on/off, true/false, 1/0, y/n, t/f."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    raise ValueError(f"the value {value!r} is not a valid boolean (use true/false, yes/no, on/off, 1/0)")


bool_arg = parse_bool


def expand_home(path: str) -> str:
    """`~/x` stays for the remote shell to expand; everything else is absolute as given."""
    return os.path.normpath(path) if path.startswith("/") else path
