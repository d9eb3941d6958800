"""systemd: daemon-reload, start/stop/restart/reload a unit, enable or disable it.

The unit's state is read with one `systemctl show`; a started unit is not started again
and an enabled unit not enabled again. restarted and reloaded always act, as in Ansible.
"""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, bool_arg, failed, q

STATES = ("started", "stopped", "restarted", "reloaded")

SPEC = Spec(
    args={"name": "str", "state": "str", "enabled": "bool", "daemon_reload": "bool",
          "daemon_reexec": "bool", "masked": "bool", "no_block": "bool", "scope": "str"},
    one_of=(("name", "daemon_reload", "daemon_reexec"),),
    aliases={"unit": "name", "service": "name", "daemon-reload": "daemon_reload"},
    choices={"state": STATES, "scope": ("system", "user", "global")},
    required_if=tuple((("state", s, ("name",)) for s in STATES)),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    state = args.get("state")
    if state is not None and state not in STATES:
        return failed(f"state must be one of {', '.join(STATES)}, got {state!r}")
    if state is not None and not name:
        return failed("state needs name")
    result: dict[str, Any] = {"changed": False}
    if state == "restarted" and "enabled" not in args:
        return _restart(ctx, args, name)
    first = []
    if bool_arg(args.get("daemon_reexec", False)) and not ctx.check:
        first.append("systemctl daemon-reexec")
    if bool_arg(args.get("daemon_reload", False)) and not ctx.check:
        first.append("systemctl daemon-reload")
    if name:
        result["name"] = name
        first.append(f"systemctl show -p ActiveState -p UnitFileState -p LoadState -- {q(name)}")
    if first:
        rc, out, err = ctx.run(" && ".join(first))
        if rc != 0:
            return failed(f"systemctl: {err.strip() or out.strip()}", rc=rc)
    if not name:
        return result
    status = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    result["status"] = status
    if status.get("LoadState") == "not-found" and (state or "enabled" in args):
        return failed(f"Could not find the requested service {name}: host")
    actions = []
    if "enabled" in args:
        want = bool_arg(args["enabled"])
        is_enabled = status.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias", "indirect")
        if want != is_enabled and not (not want and status.get("UnitFileState") == "static"):
            actions.append(f"systemctl {'enable' if want else 'disable'} -- {q(name)}")
        result["enabled"] = want
    active = status.get("ActiveState") in ("active", "activating", "reloading")
    no_block = " --no-block" if bool_arg(args.get("no_block", False)) else ""
    if state == "started" and not active:
        actions.append(f"systemctl{no_block} start -- {q(name)}")
    elif state == "stopped" and active:
        actions.append(f"systemctl{no_block} stop -- {q(name)}")
    elif state == "restarted":
        actions.append(f"systemctl{no_block} restart -- {q(name)}")
    elif state == "reloaded":
        actions.append(f"systemctl{no_block} {'reload' if active else 'start'} -- {q(name)}")
    if state:
        result["state"] = state
    result["changed"] = bool(actions)
    if not actions or ctx.check:
        return result
    rc, out, err = ctx.run(" && ".join(actions))
    if rc != 0:
        return failed(f"Unable to {state or 'change'} service {name}: {err.strip() or out.strip()}", rc=rc,
                      name=name)
    return result


def _restart(ctx: ModuleContext, args: dict[str, Any], name: str) -> dict[str, Any]:
    """restarted always acts, so there is nothing to read first: one round trip, reload included."""
    result = {"changed": True, "name": name, "state": "restarted"}
    if ctx.check:
        return result
    steps = [f"systemctl daemon-{kind}" for kind in ("reexec", "reload")
             if bool_arg(args.get(f"daemon_{kind}", False))]
    no_block = " --no-block" if bool_arg(args.get("no_block", False)) else ""
    steps.append(f"systemctl{no_block} restart -- {q(name)}")
    rc, out, err = ctx.run(" && ".join(steps))
    if rc != 0:
        return failed(f"Unable to restart service {name}: {err.strip() or out.strip()}", rc=rc, name=name)
    return result
