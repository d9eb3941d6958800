"""command: run a program with arguments, no shell in between.

The free-form line is split like a shell would split words (after templating), and every
word is quoted again before it is sent, so `;`, `$(...)` or backticks in a value are
passed to the program as text and never interpreted.
"""

from __future__ import annotations

import shlex
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, execute, failed, q

SPEC = Spec(
    args={"cmd": "str", "argv": "list", "chdir": "str", "creates": "str", "removes": "str",
          "stdin": "str", "stdin_add_newline": "bool"},
    free_form=True,
    one_of=(("_raw_params", "cmd", "argv"),),
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
