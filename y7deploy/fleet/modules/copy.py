"""copy: put a workstation file, or literal content, at a path on the host.

One round trip reads the destination's sha256 and attributes; the upload happens only
when the content differs, and chmod/chown only when an attribute does.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from y7deploy.fleet.modules.base import (
    DIFF_LIMIT, ModuleContext, Spec, attribute_fixes, failed, local_sha256, looks_text,
    normalize_mode, parse_stat, q,
)

SPEC = Spec(
    args={"src": "str", "content": "any", "dest": "str", "mode": "mode", "owner": "str",
          "group": "str", "force": "bool", "backup": "bool"},
    required=("dest",),
    one_of=(("src", "content"),),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    from y7deploy.fleet.playbook import resolve_local

    dest = str(args["dest"])
    if "content" in args:
        content = args["content"]
        data = content if isinstance(content, bytes) else str(content).encode()
        return ensure_file(ctx, dest, args, data=data, label="content")
    src = resolve_local(ctx.base_dir, str(args["src"]), "files")
    if not src.is_file():
        return failed(f"could not find src {args['src']!r} (looked for {src})")
    if dest.endswith("/"):
        dest = posixpath.join(dest, src.name)
    return ensure_file(ctx, dest, args, path=src, label=str(args["src"]))


def ensure_file(ctx: ModuleContext, dest: str, args: dict[str, Any], *, data: bytes | None = None,
                path: Path | None = None, label: str = "") -> dict[str, Any]:
    """Make dest hold exactly data (or the file at path) with the asked attributes."""
    import hashlib

    mode = normalize_mode(args.get("mode"))
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
    force = args.get("force", True) not in (False, "no", "false")
    content_changed = state["type"] == "absent" or (force and state.get("sha256") != want_sha)
    fixes = attribute_fixes(dest, state, mode, owner, group) if not content_changed else []
    changed = content_changed or bool(fixes)
    result: dict[str, Any] = {"changed": changed, "dest": dest, "checksum": want_sha}
    if ctx.diff and content_changed:
        result["diff"] = _diff(ctx, dest, state, data, path, label)
    if not changed or ctx.check:
        return result
    if content_changed:
        _upload(ctx, dest, data, path, mode)
        # the upload set a numeric mode itself; another chmod would only bump the ctime and
        # so invalidate the host's sha cache for this file
        fixes = attribute_fixes(dest, {"mode": mode} if mode and mode.isdigit() else {}, mode, owner, group)
    if fixes:
        rc, out, err = ctx.run(" && ".join(fixes))
        if rc != 0:
            return failed(f"setting attributes of {dest} failed: {err.strip()}", rc=rc)
    return result


def _upload(ctx: ModuleContext, dest: str, data: bytes | None, path: Path | None,
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
