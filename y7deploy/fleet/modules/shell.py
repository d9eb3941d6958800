"""shell: run a script through /bin/sh on the host.

The script is the user's own shell code, so it is sent as one quoted argument to `sh -c`;
values put into it from variables should go through the `quote` filter, as in Ansible.
"""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, execute, failed, q

SPEC = Spec(
    args={"cmd": "str", "chdir": "str", "creates": "str", "removes": "str", "executable": "str",
          "stdin": "str", "stdin_add_newline": "bool"},
    free_form=True,
    one_of=(("_raw_params", "cmd"),),
)


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    text = args.get("cmd", args.get("_raw_params"))
    if not text:
        return failed("no command given")
    shell = str(args.get("executable") or "/bin/sh")
    return execute(ctx, args, f"{q(shell)} -c {q(text)}", shown=str(text), cmd=str(text))
