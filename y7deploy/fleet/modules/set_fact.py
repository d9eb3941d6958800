"""set_fact: define variables for this host for the rest of the run."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec

SPEC = Spec(args={}, local=True)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    facts = {k: v for k, v in args.items() if k != "cacheable"}
    ctx.set_facts(facts)
    return {"changed": False, "ansible_facts": facts}
