"""assert: every expression in `that` holds for this host, or the task fails with fail_msg."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, bool_arg, failed

SPEC = Spec(
    args={"that": "list", "fail_msg": "str", "msg": "str", "success_msg": "str", "quiet": "bool"},
    required=("that",),
    local=True,
)
RAW_ARGS = ("that",)  # expressions, evaluated here rather than templated before


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    that = args["that"] if isinstance(args["that"], list) else [args["that"]]
    for expression in that:
        if not ctx.templar.condition(expression, ctx.variables):
            msg = args.get("fail_msg") or args.get("msg") or "Assertion failed"
            return failed(str(ctx.templar.resolve(msg, ctx.variables)), assertion=str(expression),
                          evaluated_to=False)
    result: dict[str, Any] = {"changed": False}
    if not bool_arg(args.get("quiet", False)):
        result["msg"] = str(ctx.templar.resolve(args.get("success_msg") or "All assertions passed",
                                                ctx.variables))
    return result
