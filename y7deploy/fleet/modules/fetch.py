"""fetch: copy a file from the host to the workstation, as dest/HOST/SRC (or dest with flat).

The remote sha256 is compared with the local copy first; nothing moves when they match.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, bool_arg, failed, parse_stat

SPEC = Spec(
    args={"src": "str", "dest": "str", "flat": "bool", "fail_on_missing": "bool",
          "validate_checksum": "bool"},
    required=("src", "dest"),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    src, dest = str(args["src"]), str(args["dest"])
    if ".." in Path(src).parts or "\n" in src:
        return failed(f"refusing to fetch {src!r}: '..' would leave the destination directory")
    if bool_arg(args.get("flat", False)):
        local = Path(dest) / Path(src).name if dest.endswith("/") else Path(dest)
    else:
        local = Path(dest) / ctx.host / src.lstrip("/")
    if not local.is_absolute():
        local = ctx.base_dir / local
    rc, out, err = ctx.stat(src)
    state = parse_stat(out)
    if state["type"] != "file":
        if bool_arg(args.get("fail_on_missing", True)):
            return failed(f"the remote file {src} does not exist or is not a regular file")
        return {"changed": False, "file": src, "msg": "the remote file does not exist, not transferring"}
    remote_sha = state.get("sha256", "")
    if local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == remote_sha:
        return {"changed": False, "dest": str(local), "checksum": remote_sha}
    if ctx.check:
        return {"changed": True, "dest": str(local), "checksum": remote_sha}
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(local.name + ".y7part")
    ctx.conn.get(src, str(tmp))
    got = hashlib.sha256(tmp.read_bytes()).hexdigest()
    if got != remote_sha:
        tmp.unlink(missing_ok=True)
        return failed(f"checksum mismatch fetching {src}")
    tmp.replace(local)
    return {"changed": True, "dest": str(local), "checksum": remote_sha}
