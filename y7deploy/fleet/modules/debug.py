"""debug: print a message or a variable's value for this host."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec

SPEC = Spec(args={"msg": "any", "var": "str", "verbosity": "int"}, local=True)
RAW_ARGS = ("var",)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    if "var" in args:
        name = str(args["var"])
        try:
            value = ctx.templar.evaluate(name, ctx.variables)
        except Exception:  # noqa: BLE001 - Ansible prints the message instead of failing
            value = "VARIABLE IS NOT DEFINED!"
        return {"changed": False, name: value}
    return {"changed": False, "msg": args.get("msg", "Hello world!")}
