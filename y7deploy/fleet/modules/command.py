"""command: run a program with arguments, no shell in between.

The free-form line is split like a shell would split words (after templating), and every
word is quoted again before it is sent, so `;`, `$(...)` or backticks in a value are
passed to the program as text and never interpreted.
"""

from __future__ import annotations

import shlex
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, failed, q

SPEC = Spec(
    args={"cmd": "str", "argv": "list", "chdir": "str", "creates": "str", "removes": "str",
          "stdin": "str", "stdin_add_newline": "bool"},
    free_form=True,
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("argv"):
        argv = [str(a) for a in args["argv"]]
    else:
        text = args.get("cmd", args.get("_raw_params"))
        if not text:
            return failed("no command given")
        try:
            argv = shlex.split(str(text))
        except ValueError as exc:
            return failed(f"cannot split command line: {exc}")
    script = "exec " + " ".join(q(a) for a in argv)
    return execute(ctx, args, script, shown=" ".join(q(a) for a in argv), cmd=argv)


def execute(ctx: ModuleContext, args: dict[str, Any], script: str, *, shown: str,
            cmd: Any) -> dict[str, Any]:
    """The part command and shell share: creates/removes, chdir, check mode, the result."""
    guard = _guard(ctx, args)
    if guard is not None:
        return {"changed": False, "rc": 0, "cmd": cmd, "stdout": guard, "stderr": "",
                "stdout_lines": [guard], "stderr_lines": []}
    if ctx.check:
        return {"changed": False, "skipped": True, "cmd": cmd,
                "msg": "Command would have run if not in check mode"}
    if args.get("chdir"):
        script = f"cd {q(args['chdir'])} && {script}"
    stdin = args.get("stdin")
    if stdin is not None and args.get("stdin_add_newline", True):
        stdin = str(stdin) + "\n"
    rc, out, err = ctx.run(script, stdin=stdin)
    out, err = out.rstrip("\n"), err.rstrip("\n")
    result = {"changed": True, "rc": rc, "cmd": cmd, "stdout": out, "stderr": err,
              "stdout_lines": out.splitlines(), "stderr_lines": err.splitlines()}
    if rc != 0:
        result.update(failed=True, msg="non-zero return code")
    return result


def _guard(ctx: ModuleContext, args: dict[str, Any]) -> str | None:
    """A message when creates/removes says the command need not run, else None."""
    creates, removes = args.get("creates"), args.get("removes")
    if creates is None and removes is None:
        return None
    tests = []
    if creates is not None:
        tests.append(f"[ -e {q(creates)} ] && echo c")
    if removes is not None:
        tests.append(f"[ -e {q(removes)} ] || echo r")
    _, out, _ = ctx.run("; ".join(tests) + "; true")
    if "c" in out.split():
        return f"skipped, since {creates} exists"
    if "r" in out.split():
        return f"skipped, since {removes} does not exist"
    return None
