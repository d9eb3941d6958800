"""ping: the host answers a command over the run's connection."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, failed

SPEC = Spec(args={"data": "str"})


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    rc, out, err = ctx.run("echo pong")
    if rc != 0 or out.strip() != "pong":
        return failed(f"unexpected answer: {out.strip() or err.strip()}")
    return {"changed": False, "ping": str(args.get("data", "pong"))}
