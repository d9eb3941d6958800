"""What every module shares: its argument spec, the context it runs in, and the one remote
command that reads a path's whole state (type, mode, owner, sha256) in a single round trip.

A module decides from facts, acts only when the facts differ from the wanted state, and
returns an Ansible-shaped result dict: changed, failed, skipped, msg, diff, plus its own keys.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat as stat_bits
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from y7deploy.errors import UserError
from y7deploy.fleet import shell
from y7deploy.fleet.convert import normalize_mode, parse_bool
from y7deploy.fleet.shell import quote as q

if TYPE_CHECKING:
    from y7deploy.fleet.connector import Link
    from y7deploy.fleet.templating import HostVars, Templar

__all__ = ["DIFF_LIMIT", "ModuleContext", "Spec", "attribute_fixes", "bool_arg", "ensure_file", "execute",
           "failed", "file_mode", "local_sha256", "looks_text", "normalize_mode", "parse_bool", "parse_stat",
           "parse_stat_many", "q", "upload", "split_stat_many", "stat_command", "stat_many_command"]


@dataclass(frozen=True)
class Spec:
    """The arguments a module accepts; checked when the playbook loads."""

    args: dict[str, str]  # name -> kind: str, bool, int, float, list, dict, mode, any
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()  # at least one of each group
    free_form: bool = False  # `command: echo hi` style
    local: bool = False  # runs on the workstation only (debug, assert, set_fact)
    aliases: dict[str, str] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> the values it may take
    required_if: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, value, what it then needs)

    def coerce(self, args: dict[str, Any]) -> dict[str, Any]:
        """Templated arguments, once rendered, checked as the loader checks literal ones
        (ValueError naming the argument and value); booleans read once, as Ansible reads them."""
        problem = self.bad_value(args)
        if problem:
            raise ValueError(problem)
        out = dict(args)
        for key, kind in self.args.items():
            if kind == "bool" and key in out and not isinstance(out[key], bool):
                out[key] = parse_bool(out[key])
        return out

    def bad_value(self, args: dict[str, Any]) -> str | None:
        """What is wrong with the first argument whose value its kind or choices refuse, or None.

        A value that is still a template (`"{{ x }}"`) is left for run time, when it is known.
        """
        for key, value in args.items():
            if value is None or _templated(value):
                continue
            problem = _kind_problem(self.args.get(key, "any"), value)
            allowed = self.choices.get(key)
            if problem is None and allowed is not None and str(value) not in allowed:
                shown = dict.fromkeys(c if c.isprintable() else repr(c)[1:-1] for c in allowed)
                problem = f"must be one of {', '.join(shown)}"
            if problem:
                return f"argument {key!r}: {value!r} {problem}"
        for key, value, needed in self.required_if:
            missing = [n for n in needed if args.get(n) is None]
            if args.get(key) == value and missing:
                return f"{key}={value} needs {', '.join(missing)}"
        return None

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
                shown = ", ".join("a free-form command" if k == "_raw_params" else k for k in group)
                raise UserError(f"{where}: {module}: needs one of {shown}")
        problem = self.bad_value(args)
        if problem:
            raise UserError(f"{where}: {module}: {problem}")


def _templated(value: Any) -> bool:
    from y7deploy.fleet.templating import is_template

    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return is_template(value)


def _number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return kind is float or float(value).is_integer()
    try:
        kind(str(value).strip())
    except ValueError:
        return False
    return True


def _kind_problem(kind: str, value: Any) -> str | None:
    """Why a rendered argument value is not of its kind (as Ansible's argument spec types read
    them: "5" is an int, "a,b" a list), or None when it is."""
    if kind == "any":
        return None
    if kind == "bool":
        try:
            parse_bool(value)
        except ValueError:
            return "is not a boolean (true/false, yes/no, on/off, 1/0)"
        return None
    if kind == "int":
        return None if _number(value, int) else "is not an integer"
    if kind == "float":
        return None if _number(value, float) else "is not a number"
    if kind in ("mode", "mode_or_preserve"):
        if kind == "mode_or_preserve" and value == "preserve":
            return None
        try:
            normalize_mode(value)
        except ValueError:
            return "is not a file mode (octal like '0644', or symbolic like 'u+x,g-w')"
        return None
    if kind == "dict":
        return None if isinstance(value, (dict, str)) else "is not a mapping"
    if kind == "list":
        return None if not isinstance(value, dict) else "is not a list"
    if kind == "str":
        if isinstance(value, (dict, list)):
            return f"is a {'mapping' if isinstance(value, dict) else 'list'}, not a string"
    return None


@dataclass
class ModuleContext:
    """Everything a module may use: the host's connection, its variables, the run's modes."""

    host: str
    conn: "Link | None"  # None for the modules that run on the workstation (SPEC.local)
    check: bool
    diff: bool
    become: bool
    variables: "HostVars"
    templar: "Templar"
    base_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    set_facts: Callable[[dict[str, Any]], None] = lambda facts: None
    local_cache: dict[str, Any] = field(default_factory=dict)  # shared across hosts in a run
    probes: dict[tuple[str, bool], str] | None = None  # stat outputs read ahead by the runner
    # a workstation file named by a task: (src, "files" or "templates") -> path, next to the playbook
    resolve_local: Callable[[str, str], Path] | None = None
    deadline: float | None = None  # time.monotonic() when the task's `timeout` is up

    def local_path(self, src: str, subdir: str) -> Path:
        """Where a task's `src` is on the workstation (absolute, or beside the playbook)."""
        if self.resolve_local is not None:
            return self.resolve_local(src, subdir)
        path = Path(src)
        return path if path.is_absolute() else self.base_dir / subdir / path

    def stat(self, path: str, with_hash: bool = True) -> tuple[int, str, str]:
        """A path's state (stat_command's output): from the runner's read-ahead when it has it."""
        if self.probes:
            for key in ((path, with_hash), (path, True)):
                if key in self.probes:
                    return 0, self.probes[key], ""
        return self.run(stat_command(path, with_hash))

    def run(self, command: str, *, stdin: bytes | str | None = None,
            timeout: float | None = None) -> tuple[int, str, str]:
        """Run one shell command on the host; returns (rc, stdout, stderr) as text. Raises the
        connection's CommandTimeout when `timeout` or the task's deadline passes first."""
        if self.deadline is not None:
            left = max(0.001, self.deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        result = self.conn.run(command, sudo=self.become, stdin=stdin, timeout=timeout,
                               env=self.environment or None)
        return result.exit_code, _text(result.stdout), _text(result.stderr)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


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


def stat_command(path: str, with_hash: bool = True) -> str:
    """One shell command printing key=value lines: type, mode, owner, group, size, sha256
    (a large file's sha256 from the host-side cache, fleet/shell.py, while it is unchanged)."""
    digest = shell.cached_sha256('"$f"', shell.sums_key(path)) + 'echo "sha256=$sum"; ' if with_hash else ""
    return STAT_SCRIPT.format(path=q(path), hash=digest)


def stat_many_command(paths: list[str] | list[tuple[str, bool]], with_hash: bool = True) -> str:
    """One shell command printing every path's state (stat_command's lines), each after a
    `@@y7stat N` marker line. A path may come as (path, with_hash). The per-path script is a
    shell function, so a tree of hundreds of files stays a short command line."""
    digest = 'if [ -n "$2" ]; then ' + shell.cached_sha256('"$f"', "$2") + 'echo "sha256=$sum"; fi; '
    body = STAT_SCRIPT.format(path='"$1"', hash=digest)
    calls = []
    for i, item in enumerate(paths):
        path, hashed = item if isinstance(item, tuple) else (item, with_hash)
        calls.append(f"echo @@y7stat{i}; _y7stat {q(path)} {shell.sums_key(path) if hashed else ''}; ")
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
    """sha256 of a workstation file, read once (fleet/localsums.py); `cache` is the run's memo."""
    from y7deploy.fleet import localsums

    return localsums.local_sha256(path, cache)


def looks_text(data: bytes) -> bool:
    return b"\x00" not in data[:8192]


DIFF_LIMIT = 64 * 1024


bool_arg = parse_bool


def expand_home(path: str) -> str:
    """`~/x` stays for the remote shell to expand; everything else is absolute as given."""
    return os.path.normpath(path) if path.startswith("/") else path


# --- what several modules do the same way -------------------------------------------------


def file_mode(mode: Any, local: Path | None) -> str | None:
    """A task's `mode` as chmod takes it; `preserve` is the workstation file's own mode."""
    if mode == "preserve" and local is not None:
        return format(stat_bits.S_IMODE(local.stat().st_mode), "o")
    return normalize_mode(mode)


def ensure_file(ctx: ModuleContext, dest: str, args: dict[str, Any], *, data: bytes | None = None,
                path: Path | None = None, label: str = "") -> dict[str, Any]:
    """Make dest hold exactly data (or the file at path) with the asked attributes."""
    mode = file_mode(args.get("mode"), path)
    owner, group = args.get("owner"), args.get("group")
    want_sha = hashlib.sha256(data).hexdigest() if data is not None else local_sha256(path, ctx.local_cache)
    rc, out, err = ctx.stat(dest)
    if rc != 0:
        return failed(f"cannot inspect {dest}: {err.strip() or out.strip()}", rc=rc)
    state = parse_stat(out)
    if state["type"] == "directory" and path is not None:
        dest = posixpath.join(dest, path.name)
        rc, out, err = ctx.stat(dest)
        state = parse_stat(out)
    if state["type"] not in ("file", "absent"):
        return failed(f"destination {dest} exists and is a {state['type']}")
    force = parse_bool(args.get("force", True))
    content_changed = state["type"] == "absent" or (force and state.get("sha256") != want_sha)
    fixes = attribute_fixes(dest, state, mode, owner, group) if not content_changed else []
    changed = content_changed or bool(fixes)
    result: dict[str, Any] = {"changed": changed, "dest": dest, "checksum": want_sha}
    if ctx.diff and content_changed:
        result["diff"] = _diff(ctx, dest, state, data, path, label)
    if not changed or ctx.check:
        return result
    if content_changed:
        upload(ctx, dest, data, path, mode)
        # the upload set a numeric mode itself; another chmod would only bump the ctime and
        # so invalidate the host's sha cache for this file
        fixes = attribute_fixes(dest, {"mode": mode} if mode and mode.isdigit() else {}, mode, owner, group)
    if fixes:
        rc, out, err = ctx.run(" && ".join(fixes))
        if rc != 0:
            return failed(f"setting attributes of {dest} failed: {err.strip()}", rc=rc)
    return result


def upload(ctx: ModuleContext, dest: str, data: bytes | None, path: Path | None,
            mode: str | None) -> None:
    int_mode = int(mode, 8) if mode and mode.isdigit() else None
    if data is not None:
        ctx.conn.put_bytes(data, dest, mode=int_mode, sudo=ctx.become)
    else:
        ctx.conn.put_file(str(path), dest, mode=int_mode, sudo=ctx.become)


def _diff(ctx: ModuleContext, dest: str, state: dict[str, str], data: bytes | None,
          path: Path | None, label: str) -> dict[str, Any]:
    new = data if data is not None else (path.read_bytes() if path.stat().st_size <= DIFF_LIMIT else None)
    if new is None or not looks_text(new) or len(new) > DIFF_LIMIT:
        return {"before_header": dest, "after_header": label, "before": "", "after": "",
                "binary": True}
    before = ""
    if state["type"] == "file" and int(state.get("size", "0")) <= DIFF_LIMIT:
        rc, out, _ = ctx.run(f"cat -- {q(dest)}")
        before = out if rc == 0 else ""
    return {"before_header": dest, "after_header": label, "before": before,
            "after": new.decode("utf-8", "replace")}


def execute(ctx: ModuleContext, args: dict[str, Any], script: str, *, shown: str,
            cmd: Any) -> dict[str, Any]:
    """The part command and shell share: creates/removes, chdir, check mode, the result."""
    guard = _guard(ctx, args)
    if guard is not None:
        return {"changed": False, "rc": 0, "cmd": cmd, "stdout": guard, "stderr": "",
                "stdout_lines": [guard], "stderr_lines": []}
    if ctx.check:
        return {"changed": False, "skipped": True, "cmd": cmd,
                "msg": "Command would have run if not in check mode"}
    if args.get("chdir"):
        script = f"cd {q(args['chdir'])} && {script}"
    stdin = args.get("stdin")
    if stdin is not None and args.get("stdin_add_newline", True):
        stdin = str(stdin) + "\n"
    rc, out, err = ctx.run(script, stdin=stdin)
    out, err = out.rstrip("\n"), err.rstrip("\n")
    result = {"changed": True, "rc": rc, "cmd": cmd, "stdout": out, "stderr": err,
              "stdout_lines": out.splitlines(), "stderr_lines": err.splitlines()}
    if rc != 0:
        result.update(failed=True, msg="non-zero return code")
    return result


def _guard(ctx: ModuleContext, args: dict[str, Any]) -> str | None:
    """A message when creates/removes says the command need not run, else None."""
    creates, removes = args.get("creates"), args.get("removes")
    if creates is None and removes is None:
        return None
    tests = []
    if creates is not None:
        tests.append(f"[ -e {q(creates)} ] && echo c")
    if removes is not None:
        tests.append(f"[ -e {q(removes)} ] || echo r")
    _, out, _ = ctx.run("; ".join(tests) + "; true")
    if "c" in out.split():
        return f"skipped, since {creates} exists"
    if "r" in out.split():
        return f"skipped, since {removes} does not exist"
    return None
