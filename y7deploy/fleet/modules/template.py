"""template: render a Jinja2 file on the workstation with the host's variables and facts,
then place the result like copy does (uploaded only when it differs)."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, ensure_file, failed

SPEC = Spec(
    args={"src": "str", "dest": "str", "mode": "mode", "owner": "str", "group": "str",
          "force": "bool", "backup": "bool"},
    required=("src", "dest"),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    from y7deploy.fleet.templating import TemplateError

    src = ctx.local_path(str(args["src"]), "templates")
    if not src.is_file():
        return failed(f"could not find template {args['src']!r} (looked for {src})")
    key = f"template-source:{src}"
    if key not in ctx.local_cache:
        ctx.local_cache[key] = src.read_text()
    try:
        text = ctx.templar.render_string(ctx.local_cache[key], ctx.variables)
    except TemplateError as exc:
        return failed(f"{src}: {exc}")
    return ensure_file(ctx, str(args["dest"]), args, data=text.encode(), label=str(args["src"]))
