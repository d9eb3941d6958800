"""apt: a Debian package present or absent (or a local .deb installed), as dpkg reports it.

Installed state is read with one dpkg-query; apt-get runs only for what differs.
"""

from __future__ import annotations

import re
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, bool_arg, failed, q

SPEC = Spec(
    args={"name": "list", "state": "str", "update_cache": "bool", "deb": "str",
          "install_recommends": "bool", "cache_valid_time": "int"},
    one_of=(("name", "deb", "update_cache"),),
    aliases={"pkg": "name", "package": "name"},
    choices={"state": ("present", "absent", "latest")},
)

_PKG = re.compile(r"^[a-z0-9][a-z0-9+.\-]*(:[a-z0-9]+)?(=[A-Za-z0-9.+:~\-]+)?$")
_APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    names = args.get("name") or []
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = [str(n) for n in names]
    for name in names:
        if not _PKG.match(name):  # also keeps a leading '-' from reaching apt-get as an option
            return failed(f"not a valid package name: {name!r}")
    state = str(args.get("state") or "present")
    if state not in ("present", "absent", "latest"):
        return failed(f"state must be present, absent or latest, got {state!r}")
    deb = args.get("deb")
    if deb:
        return _deb(ctx, str(deb))
    changed = False
    if bool_arg(args.get("update_cache", False)) and not ctx.check:
        rc, _, err = ctx.run(f"{_APT} update")
        if rc != 0:
            return failed(f"apt-get update failed: {err.strip()}", rc=rc)
        changed = True
    if not names:
        return {"changed": changed}
    installed = _installed(ctx, [n.split("=")[0] for n in names])
    if state in ("present", "latest"):
        todo = [n for n in names if n.split("=")[0] not in installed] if state == "present" else names
        verb = "install"
    else:
        todo = [n for n in names if n.split("=")[0] in installed]
        verb = "remove"
    if state == "latest" and not ctx.check:
        rc, out, err = ctx.run(f"{_APT} install {' '.join(q(n) for n in todo)}")
        if rc != 0:
            return failed(f"apt-get install failed: {err.strip()}", rc=rc, stdout=out)
        after = _installed(ctx, [n.split("=")[0] for n in names])
        return {"changed": changed or after != installed, "stdout": out}
    if not todo:
        return {"changed": changed}
    if ctx.check:
        return {"changed": True, "packages": todo}
    recommends = "" if bool_arg(args.get("install_recommends", False)) else " --no-install-recommends"
    rc, out, err = ctx.run(f"{_APT}{recommends if verb == 'install' else ''} {verb} {' '.join(q(n) for n in todo)}")
    if rc != 0:
        return failed(f"apt-get {verb} failed: {err.strip() or out.strip()}", rc=rc)
    return {"changed": True, "packages": todo, "stdout": out}


def _installed(ctx: ModuleContext, names: list[str]) -> dict[str, str]:
    """name -> version, for the names dpkg has installed."""
    fmt = q("${Package}\t${Version}\t${db:Status-Abbrev}\n")
    _, out, _ = ctx.run(f"dpkg-query -W -f={fmt} {' '.join(q(n) for n in names)} 2>/dev/null; true")
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].startswith("ii"):
            found[parts[0]] = parts[1]
    return found


def _deb(ctx: ModuleContext, path: str) -> dict[str, Any]:
    rc, out, err = ctx.run(f"dpkg-deb -f -- {q(path)} Package Version")
    if rc != 0:
        return failed(f"cannot read {path}: {err.strip()}")
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    name, version = fields.get("Package", ""), fields.get("Version", "")
    if _installed(ctx, [name]).get(name) == version:
        return {"changed": False}
    if ctx.check:
        return {"changed": True}
    rc, out, err = ctx.run(f"{_APT} install -- {q(path if path.startswith('/') else './' + path)}")
    if rc != 0:
        rc, out, err = ctx.run(f"dpkg -i -- {q(path)}")
    if rc != 0:
        return failed(f"installing {path} failed: {err.strip() or out.strip()}", rc=rc)
    return {"changed": True, "stdout": out}
