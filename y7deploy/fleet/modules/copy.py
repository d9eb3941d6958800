"""copy: put a workstation file, a directory tree, or literal content, at a path on the host.

One round trip reads the destination's sha256 and attributes; the upload happens only
when the content differs, and chmod/chown only when an attribute does.

A directory src follows Ansible: "dir/" copies what is inside dir into dest, "dir" copies
dir itself (dest/dir/...). Each file is content-addressed on its own, so a re-run sends
only the files that changed; `mode` applies to files (`preserve` keeps each source file's
mode), `directory_mode` to directories this task creates.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from y7deploy.fleet.modules.base import (
    ModuleContext, Spec, attribute_fixes, ensure_file, failed, file_mode, local_sha256, normalize_mode,
    parse_bool, parse_stat_many, q, stat_many_command, upload,
)

SPEC = Spec(
    args={"src": "str", "content": "any", "dest": "str", "mode": "mode_or_preserve", "owner": "str",
          "group": "str", "force": "bool", "backup": "bool", "directory_mode": "mode"},
    required=("dest",),
    one_of=(("src", "content"),),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    dest = str(args["dest"])
    if "content" in args:
        content = args["content"]
        data = content if isinstance(content, bytes) else str(content).encode()
        return ensure_file(ctx, dest, args, data=data, label="content")
    src = ctx.local_path(str(args["src"]), "files")
    if src.is_dir():
        into = dest if str(args["src"]).endswith("/") else posixpath.join(dest, src.name)
        return ensure_tree(ctx, src, into.rstrip("/") or "/", args)
    if not src.is_file():
        return failed(f"could not find src {args['src']!r} (looked for {src})")
    if dest.endswith("/"):
        dest = posixpath.join(dest, src.name)
    return ensure_file(ctx, dest, args, path=src, label=str(args["src"]))


def ensure_tree(ctx: ModuleContext, src: Path, dest: str, args: dict[str, Any]) -> dict[str, Any]:
    """Make dest hold every file and directory under src (nothing else is removed)."""
    dirs, files = _walk(src)
    remote_dirs = [dest] + [posixpath.join(dest, d) for d in dirs]
    remote_files = [posixpath.join(dest, f) for f in files]
    rc, out, err = ctx.run(stat_many_command([(d, False) for d in remote_dirs] + [(f, True) for f in remote_files]))
    if rc != 0:
        return failed(f"cannot inspect {dest}: {err.strip() or out.strip()}", rc=rc)
    states = parse_stat_many(out, len(remote_dirs) + len(remote_files))
    dir_states, file_states = states[:len(remote_dirs)], states[len(remote_dirs):]
    for path, state in zip(remote_dirs, dir_states):
        if state["type"] not in ("directory", "absent"):
            return failed(f"destination {path} exists and is a {state['type']}, not a directory")
    for path, state in zip(remote_files, file_states):
        if state["type"] not in ("file", "absent"):
            return failed(f"destination {path} exists and is a {state['type']}")
    owner, group = args.get("owner"), args.get("group")
    force = parse_bool(args.get("force", True))
    new_dirs = [d for d, st in zip(remote_dirs, dir_states) if st["type"] == "absent"]
    steps: list[str] = []
    if new_dirs:
        steps.append("mkdir -p -- " + " ".join(q(d) for d in new_dirs))
        for d in new_dirs:
            steps += attribute_fixes(d, {}, normalize_mode(args.get("directory_mode")), owner, group)
    for d, st in zip(remote_dirs, dir_states):
        if st["type"] == "directory":
            steps += attribute_fixes(d, st, None, owner, group)
    uploads: list[tuple[Path, str, str | None]] = []
    for rel, path, state in zip(files, remote_files, file_states):
        local = src / rel
        mode = file_mode(args.get("mode"), local)
        if state["type"] == "absent" or (force and state.get("sha256") != local_sha256(local, ctx.local_cache)):
            uploads.append((local, path, mode))
            steps += attribute_fixes(path, {"mode": mode} if mode and mode.isdigit() else {}, mode, owner, group)
        else:
            steps += attribute_fixes(path, state, mode, owner, group)
    result: dict[str, Any] = {"changed": bool(steps or uploads), "dest": dest, "src": str(src),
                              "files": len(files), "uploaded": [p for _, p, _ in uploads]}
    if not result["changed"] or ctx.check:
        return result
    if new_dirs:  # the files need their directories first; the rest of the attribute fixes after
        rc, out, err = ctx.run(steps[0])
        if rc != 0:
            return failed(f"creating directories under {dest} failed: {err.strip()}", rc=rc)
        steps = steps[1:]
    for local, path, mode in uploads:
        upload(ctx, path, None, local, mode)
    if steps:
        rc, out, err = ctx.run(" && ".join(steps))
        if rc != 0:
            return failed(f"setting attributes under {dest} failed: {err.strip()}", rc=rc)
    return result


def _walk(top: Path) -> tuple[list[str], list[str]]:
    """Directories and files under top, relative, sorted; symlinks followed as Ansible's local_follow."""
    dirs: list[str] = []
    files: list[str] = []
    for root, subdirs, names in os.walk(top, followlinks=True):
        subdirs.sort()
        rel = os.path.relpath(root, top)
        if rel != ".":
            dirs.append(rel)
        files += [name if rel == "." else posixpath.join(rel, name) for name in sorted(names)]
    return dirs, files


