"""The modules a task can call, by name. One small file per module; each has SPEC and run().

Ansible's fully qualified names (`ansible.builtin.copy`) and a few aliases map onto
ours, so a playbook written for Ansible runs unchanged.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from y7deploy.fleet.modules import (
    apt, assert_, command, copy, debug, facts, fetch, file, ping, set_fact, shell, systemd,
    template, wait_for,
)

MODULES: dict[str, ModuleType] = {
    "command": command, "shell": shell, "file": file, "copy": copy, "template": template,
    "systemd": systemd, "apt": apt, "wait_for": wait_for, "assert": assert_, "fetch": fetch,
    "facts": facts, "ping": ping, "debug": debug, "set_fact": set_fact,
}
MODULES["trt_engine"] = importlib.import_module("y7deploy.fleet.modules.trt_engine")
MODULES["release_sync"] = importlib.import_module("y7deploy.fleet.modules.release_sync")
MODULES["deploy_facts"] = importlib.import_module("y7deploy.fleet.modules.deploy_facts")

ALIASES = {
    "systemd_service": "systemd", "service": "systemd", "setup": "facts",
    "gather_facts": "facts", "raw": "shell",
}


def canonical_name(name: str) -> str:
    """`ansible.builtin.copy` -> `copy`; `service` -> `systemd`; unknown names unchanged."""
    for prefix in ("ansible.builtin.", "ansible.legacy.", "y7deploy."):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return ALIASES.get(name, name)
