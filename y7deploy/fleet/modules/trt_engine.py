"""trt_engine: a TensorRT engine at engines/<KEY>.engine (`name`: KEY), built on the host or taken from a
host of the same device class, never rebuilt while the key is present.

- present: nothing to do (one round trip).
- `engine_src` (a workstation file, the engine a host of this class built): uploaded under a
  temporary name and checked with `trtexec --loadEngine`; renamed into place when it loads,
  removed otherwise, and then the host builds its own.
- build: `argv` (trtexec's command line for this host's TensorRT, writing `tmp`) under
  `timeout`, its output kept as engines/<KEY>.log beside the engine; renamed into place
  only after trtexec said PASSED and the file is there.
"""

from __future__ import annotations

import time
from typing import Any

from y7deploy.fleet.modules.base import ModuleContext, Spec, failed, q

SPEC = Spec(
    args={"name": "str", "engines_dir": "str", "argv": "list", "tmp": "str", "timeout": "int",
          "engine_src": "str", "trtexec": "str"},
    required=("name", "engines_dir", "argv", "tmp"),
)

PASSED = "&&&& PASSED TensorRT.trtexec"


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    key, folder = args["name"], args["engines_dir"].rstrip("/")
    final, log = f"{folder}/{key}.engine", f"{folder}/{key}.log"
    rc, out, _ = ctx.run(f"[ -s {q(final)} ] && echo present; true")
    if "present" in out:
        return {"changed": False, "engine": final, "key": key, "action": "present"}
    source = args.get("engine_src")
    if ctx.check:
        action = "copy" if source else "build"
        return {"changed": True, "engine": final, "key": key, "action": action,
                "msg": f"would {action} engine {key}"}
    ctx.run(f"mkdir -p {q(folder)}")
    notes: list[str] = []
    if source:
        loaded = _take_copy(ctx, args, source, final)
        if loaded is None:
            return {"changed": True, "engine": final, "key": key, "action": "copied",
                    "build_seconds": 0.0}
        notes.append(f"the engine copied from this class did not load here ({loaded}); building")
    result = _build(ctx, args, final, log)
    if notes:
        result["notes"] = notes
    return result


def _take_copy(ctx: ModuleContext, args: dict[str, Any], source: str, final: str) -> str | None:
    """Upload and check a class mate's engine; None when it loaded, else trtexec's reason."""
    tmp = args["tmp"]
    ctx.conn.put_file(source, tmp, mode="0644", sudo=ctx.become)
    trtexec = args.get("trtexec") or args["argv"][0]
    rc, out, err = ctx.run(f"{q(trtexec)} --loadEngine={q(tmp)} 2>&1",
                           timeout=float(args.get("timeout") or 600) + 30)
    if rc == 0 and PASSED in out:
        ctx.run(f"mv -f -- {q(tmp)} {q(final)}")
        return None
    ctx.run(f"rm -f -- {q(tmp)}")
    lines = [ln for ln in out.splitlines() if "ERROR" in ln or "rror" in ln]
    return (lines[-1] if lines else out.strip().splitlines()[-1] if out.strip() else f"rc {rc}")[-300:]


def _build(ctx: ModuleContext, args: dict[str, Any], final: str, log: str) -> dict[str, Any]:
    key, tmp = args["name"], args["tmp"]
    limit = int(args.get("timeout") or 3600)
    argv = " ".join(q(a) for a in args["argv"])
    # The log goes to a temp name first so a present <KEY>.log always belongs to a finished run.
    script = (
        f"rm -f -- {q(tmp)}; timeout -k 10 {limit} {argv} > {q(log + '.tmp')} 2>&1; rc=$?; "
        f"mv -f -- {q(log + '.tmp')} {q(log)}; "
        f"if [ $rc -eq 0 ] && grep -q {q(PASSED)} {q(log)} && [ -s {q(tmp)} ]; then "
        f"mv -f -- {q(tmp)} {q(final)} && echo built; else rm -f -- {q(tmp)}; echo rc=$rc; "
        f"grep -E '\\[E\\]|ERROR' {q(log)} | head -n 1; fi"
    )
    start = time.monotonic()
    rc, out, err = ctx.run(script, timeout=limit + 60)
    seconds = round(time.monotonic() - start, 2)
    base = {"engine": final, "key": key, "log": log, "build_seconds": seconds}
    if out.startswith("built"):
        return {"changed": True, "action": "built", **base}
    first, _, rest = out.partition("\n")
    # timeout(1) says 124, or 137 when it had to KILL; a 137 before the limit is another
    # SIGKILL: the kernel's OOM killer, which ends Nano builds that run out of memory.
    if first.strip() == "rc=124" or (first.strip() == "rc=137" and seconds >= limit):
        return failed(f"engine build timed out after {limit} s (engine_build_timeout); log: {log}",
                      action="timeout", **base)
    if first.strip() == "rc=137":
        return failed(f"trtexec was killed (SIGKILL) after {seconds:.0f} s: out of memory? log: {log}",
                      action="failed", **base)
    reason = rest.strip().splitlines()[-1] if rest.strip() else (err.strip() or first.strip())
    return failed(f"engine build failed: {reason[-400:]} (log: {log})", action="failed", **base)
