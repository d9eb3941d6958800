"""facts (alias setup, gather_facts): the host's Jetson facts, as `jetson.*` and `ansible_facts`."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet import facts as jetson_facts
from y7deploy.fleet.modules.base import ModuleContext, Spec

SPEC = Spec(args={"gather_subset": "any", "filter": "any"})


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    found = jetson_facts.gather(ctx.run)
    published = {"jetson": found, **jetson_facts.ansible_names(found)}
    ctx.set_facts(published | {"ansible_facts": {"jetson": found, **jetson_facts.ansible_names(found)}})
    return {"changed": False, "ansible_facts": published}
