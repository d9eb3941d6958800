"""wait_for: until a path exists (or holds a regex), a TCP port answers, or a unit's journal
shows a line matching a regex; or until the timeout, which fails the task.

The whole wait is one shell loop on the host: one round trip however long it takes.
`unit:` + `search_regex:` reads only the current run of the unit (its InvocationID), so
lines from before the last restart never satisfy it.
"""

from __future__ import annotations

from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, failed, q

SPEC = Spec(
    args={"path": "str", "port": "int", "host": "str", "unit": "str", "search_regex": "str",
          "state": "str", "timeout": "float", "delay": "float", "sleep": "float", "msg": "str"},
    one_of=(("path", "port", "unit", "timeout"),),
    choices={"state": ("started", "stopped", "present", "absent", "drained")},
)


def _condition(args: dict[str, Any]) -> tuple[str, str]:
    state = str(args.get("state") or "started")
    regex = args.get("search_regex")
    if args.get("unit"):
        unit = q(args["unit"])
        inv = f"$(systemctl show -p InvocationID --value -- {unit})"
        cond = (f'i={inv}; [ -n "$i" ] && journalctl -q --no-pager -o cat _SYSTEMD_INVOCATION_ID="$i" '
                f'| grep -Eq -- {q(regex or ".")}')
        return cond, f"a line matching {regex!r} in the journal of {args['unit']}"
    if args.get("path"):
        path = q(args["path"])
        if state in ("absent", "stopped"):
            return f"[ ! -e {path} ]", f"{args['path']} to be absent"
        if regex:
            return f"grep -Eq -- {q(regex)} {path} 2>/dev/null", f"{regex!r} in {args['path']}"
        return f"[ -e {path} ]", f"{args['path']} to exist"
    if args.get("port") is not None:
        host = str(args.get("host") or "127.0.0.1")
        port = int(args["port"])
        # host and port reach bash as arguments ($0, $1), never as part of its code
        probe = f"timeout 2 bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {q(host)} {port} 2>/dev/null"
        if state in ("stopped", "absent", "drained"):
            return f"! {probe}", f"port {port} on {host} to close"
        return probe, f"port {port} on {host}"
    return "false", "the timeout"


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    timeout = float(args.get("timeout", 300))
    sleep = float(args.get("sleep", 0.5))
    delay = float(args.get("delay", 0))
    cond, what = _condition(args)
    only_sleep = cond == "false"
    script = (
        f"sleep {delay}; s=$(date +%s); end=$((s + {int(timeout + 0.999)})); "
        f"while :; do if {cond}; then echo $(( $(date +%s) - s )); exit 0; fi; "
        f"[ $(date +%s) -ge $end ] && {{ echo $(( $(date +%s) - s )); exit 1; }}; sleep {sleep}; done"
    )
    rc, out, err = ctx.run(script, timeout=timeout + delay + 30)
    elapsed = int(out.strip().splitlines()[-1]) if out.strip() else 0
    if rc == 0 or only_sleep:
        return {"changed": False, "elapsed": elapsed}
    return failed(str(args.get("msg") or f"Timeout when waiting for {what}"), elapsed=elapsed)
