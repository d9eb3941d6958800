"""template: render a Jinja2 file on the workstation with the host's variables and facts,
then place the result like copy does (uploaded only when it differs).

Whitespace as ansible-core's template module: trim_blocks (default true), lstrip_blocks
(default false), newline_sequence (default "\\n")."""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, ensure_file, failed

# ansible-core also takes the escaped spellings a YAML single-quoted string gives.
_NEWLINES = {"\n": "\n", "\r": "\r", "\r\n": "\r\n", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n"}

SPEC = Spec(
    args={"src": "str", "dest": "str", "mode": "mode_or_preserve", "owner": "str", "group": "str",
          "force": "bool", "backup": "bool", "trim_blocks": "bool", "lstrip_blocks": "bool",
          "newline_sequence": "str"},
    choices={"newline_sequence": tuple(_NEWLINES)},
    required=("src", "dest"),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    from y7deploy.fleet.templating import TemplateError

    newline = _NEWLINES.get(str(args.get("newline_sequence", "\n")))
    if newline is None:
        return failed("newline_sequence needs to be one of: \\n, \\r or \\r\\n")
    src = ctx.local_path(str(args["src"]), "templates")
    if not src.is_file():
        return failed(f"could not find template {args['src']!r} (looked for {src})")
    key = f"template-source:{src}"
    if key not in ctx.local_cache:
        ctx.local_cache[key] = src.read_bytes().decode("utf-8")  # "\r\n" kept, as ansible-core reads it
    whitespace = (args.get("trim_blocks", True), args.get("lstrip_blocks", False), newline)
    try:
        text = ctx.templar.render_string(ctx.local_cache[key], ctx.variables, whitespace=whitespace)
    except TemplateError as exc:
        return failed(f"{src}: {exc}")
    return ensure_file(ctx, str(args["dest"]), args, data=text.encode(), label=str(args["src"]))
