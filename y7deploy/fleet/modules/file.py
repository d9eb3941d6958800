"""file: a directory, a symlink, an empty file, or nothing at a path; with mode and owner.

The path's state is read in one command; only what differs is changed.
"""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import (
    ModuleContext, Spec, attribute_fixes, bool_arg, failed, normalize_mode, parse_stat, q,
)

STATES = ("file", "directory", "link", "absent", "touch")

SPEC = Spec(
    args={"path": "str", "state": "str", "src": "str", "mode": "mode", "owner": "str",
          "group": "str", "recurse": "bool", "force": "bool"},
    required=("path",),
    aliases={"dest": "path", "name": "path"},
    choices={"state": STATES},
    required_if=(("state", "link", ("src",)),),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    path = str(args["path"])
    want = str(args.get("state") or "file")
    if want not in STATES:
        return failed(f"state must be one of {', '.join(STATES)}, got {want!r}")
    mode = normalize_mode(args.get("mode"))
    owner, group = args.get("owner"), args.get("group")
    rc, out, err = ctx.stat(path, with_hash=False)
    if rc != 0:
        return failed(f"cannot inspect {path}: {err.strip()}")
    state = parse_stat(out)
    have = state["type"]
    result: dict[str, Any] = {"path": path, "state": want}
    actions: list[str] = []

    if want == "absent":
        if have != "absent":
            actions.append(f"rm -rf -- {q(path)}")
    elif want == "file":
        if have == "absent":
            return failed(f"file {path} is absent, cannot continue", path=path, state="absent")
        actions += attribute_fixes(path, state, mode, owner, group)
    elif want == "directory":
        if have not in ("absent", "directory"):
            return failed(f"{path} exists and is a {have}, not a directory")
        if have == "absent":
            actions.append(f"mkdir -p -- {q(path)}")
            actions += attribute_fixes(path, {}, mode, owner, group)
        else:
            actions += attribute_fixes(path, state, mode, owner, group)
        if bool_arg(args.get("recurse", False)) and (owner or group) and have == "directory":
            actions += _recursive(ctx, path, owner, group)
    elif want == "touch":
        actions.append(f"touch -- {q(path)}")
        actions += attribute_fixes(path, {} if have == "absent" else state, mode, owner, group)
    elif want == "link":
        src = args.get("src")
        if not src:
            return failed("state=link needs src")
        if have == "link" and state.get("target") == str(src):
            actions += _link_owner(path, state, owner, group)
        elif have in ("absent", "link") or (have == "file" and bool_arg(args.get("force", False))):
            # a new link beside, then rename(2) over: the path is never missing in between
            tmp = f"{path}.y7tmp"
            actions.append(f"ln -sfn -- {q(src)} {q(tmp)} && mv -Tf -- {q(tmp)} {q(path)}")
            actions += _link_owner(path, {}, owner, group)
        else:
            return failed(f"refusing to replace the {have} at {path} with a link (force: true to do so)")
        result["src"] = str(src)
    changed = bool(actions)
    result["changed"] = changed
    if changed and ctx.diff and have != want:
        result["diff"] = {"before": {"path": path, "state": have}, "after": {"path": path, "state": want}}
    if not changed or ctx.check:
        return result
    rc, out, err = ctx.run(" && ".join(actions))
    if rc != 0:
        return failed(f"{want} {path}: {err.strip() or out.strip()}", rc=rc)
    return result


def _link_owner(path: str, state: dict[str, str], owner: Any, group: Any) -> list[str]:
    cmds = []
    if owner is not None and state.get("owner") != str(owner):
        cmds.append(f"chown -h {q(owner)} -- {q(path)}")
    if group is not None and state.get("group") != str(group):
        cmds.append(f"chgrp -h {q(group)} -- {q(path)}")
    return cmds


def _recursive(ctx: ModuleContext, path: str, owner: Any, group: Any) -> list[str]:
    """chown/chgrp -R only when something below path has another owner or group."""
    cmds = []
    for flag, tool, value in (("-user", "chown", owner), ("-group", "chgrp", group)):
        if value is None:
            continue
        _, out, _ = ctx.run(f"find {q(path)} ! {flag} {q(value)} -print -quit")
        if out.strip():
            cmds.append(f"{tool} -R {q(value)} -- {q(path)}")
    return cmds
