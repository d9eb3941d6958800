"""deploy_facts: the host's Jetson facts and its y7deploy state, in one round trip.

Returns `ansible_facts` with `jetson` (as the facts module, less the power mode: nothing a
rollout plans depends on it, and `nvpmodel -q` is the slowest fact to read) and `y7`: state.json's text,
what `current` and `previous` point at, the releases, engines and parser builds present
(parsers newest first), the engine each release's config names, the sha256 of the
current release's .txt files and of every kept release's manifest.json and .txt files, the
free space of the file system the root is on (its nearest existing directory: `disk_root`,
`disk_free_root_mb`; the `jetson` facts' disk_free_opt_mb stays /opt's), and the app unit's
properties. Read with the shell alone, so it
answers on a host y7deploy has never touched, and changes nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from y7deploy.fleet import facts as jetson_facts
from y7deploy.fleet.modules.base import ModuleContext, Spec, failed, q

SPEC = Spec(args={"root": "str", "unit": "str"})

PROPS = "ActiveState,SubState,NRestarts,MainPID,ActiveEnterTimestamp,ExecMainStartTimestampMonotonic,UnitFileState"

STATE_SCRIPT = r"""
echo @@y7state
cd {root} 2>/dev/null && {{
echo "current=$(readlink current 2>/dev/null)"
echo "previous=$(readlink previous 2>/dev/null)"
echo "releases=$(ls -1 releases 2>/dev/null | grep -v '^\.' | tr '\n' ' ')"
echo "engines=$(ls -1 engines 2>/dev/null | sed -n 's/^\([^.].*\)\.engine$/\1/p' | tr '\n' ' ')"
echo "parsers=$(ls -1td lib/*/libnvdsinfer_custom_impl_Yolo.so 2>/dev/null | cut -d/ -f2 | tr '\n' ' ')"
echo "release_engines=$(for r in releases/*/config_infer_primary.txt; do [ -f "$r" ] && printf '%s=%s ' "$(basename "$(dirname "$r")")" "$(sed -n 's|^model-engine-file=.*/\([^/]*\)\.engine$|\1|p' "$r")"; done)"
echo "current_configs=$(cd current 2>/dev/null && sha256sum -- *.txt 2>/dev/null | awk '{{printf "%s=%s ", $2, $1}}')"
echo "release_files=$(cd releases 2>/dev/null && sha256sum -- */manifest.json */*.txt 2>/dev/null | awk '{{printf "%s=%s ", $2, $1}}')"
echo "state_json=$(base64 -w0 < state.json 2>/dev/null)"
}}
systemctl show {unit} -p {props} 2>/dev/null | sed 's/^/unit./'
d={root}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
echo "rootdisk=$d"
echo "rootfree=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {{print $4}}')"
echo "now=$(date +%s.%N)"
true
"""


def run(ctx: ModuleContext, args: dict[str, Any]) -> dict[str, Any]:
    root = args.get("root") or "/opt/y7deploy"
    unit = args.get("unit") or "y7deploy-app.service"
    rc, out, err = ctx.run(jetson_facts.VERSIONS_SCRIPT + STATE_SCRIPT.format(root=q(root), unit=q(unit), props=PROPS))
    if rc != 0 and not out:
        return failed(f"fact gathering failed: {err.strip()}")
    found = jetson_facts.parse(out)
    # The space that matters is where releases and engines go: the y7deploy root's file
    # system (its own mount on some devices), or its nearest existing parent's.
    tail = out.rpartition("@@y7state\n")[2].splitlines()
    free = next((line[9:].strip() for line in tail if line.startswith("rootfree=")), "")
    if free.isdigit():
        found["disk_free_root_mb"] = int(free) // 1024
        found["disk_root"] = next((line[9:] for line in tail if line.startswith("rootdisk=")), root)
        found["disk_root_for"] = root
    return {"changed": False, "ansible_facts": {"jetson": found, "y7": parse_state(out.rpartition("@@y7state\n")[2])}}


def parse_state(text: str) -> dict[str, Any]:
    values: dict[str, str] = {}
    unit: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key.startswith("unit."):
            unit[key[5:]] = value
        else:
            values[key] = value.strip()
    words = lambda name: values.get(name, "").split()  # noqa: E731
    release = lambda link: link.rstrip("/").rpartition("/")[2] or None  # noqa: E731
    return {"current": release(values.get("current", "")), "previous": release(values.get("previous", "")),
            "releases": words("releases"), "engines": words("engines"), "parsers": words("parsers"),
            "release_engines": dict(w.partition("=")[::2] for w in words("release_engines")),
            "current_configs": dict(w.partition("=")[::2] for w in words("current_configs")),
            "release_files": _release_files(words("release_files")),
            "state_json": base64.b64decode(values.get("state_json", "")).decode("utf-8", "replace"),
            "unit": unit, "now": float(values.get("now") or 0)}


def _release_files(words: list[str]) -> dict[str, dict[str, str]]:
    """["REL/NAME=SHA", ...] -> {REL: {NAME: SHA}}."""
    out: dict[str, dict[str, str]] = {}
    for word in words:
        path, _, sha = word.partition("=")
        release, _, name = path.partition("/")
        if release and name and sha:
            out.setdefault(release, {})[name] = sha
    return out
