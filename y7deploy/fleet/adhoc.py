"""Ad-hoc tasks (`y7deploy ping`, `facts`): one module on every selected host, as Ansible's
`ansible HOSTS -m MODULE` runs it, through the same runner as a playbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from y7deploy.fleet.inventory import Inventory
from y7deploy.fleet.playbook import Play, Playbook, Task
from y7deploy.fleet.report import Reporter
from y7deploy.fleet.runner import RunOptions, RunResult, run_playbook


def adhoc_playbook(module: str, args: dict[str, Any] | None = None, hosts: str = "all") -> Playbook:
    """A one-task playbook that runs `module` (no fact gathering)."""
    where = f"<{module}>"
    task = Task(module=module, args=dict(args or {}), file=where, line=0, name=module)
    play = Play(hosts=hosts, file=where, line=0, name=module, gather_facts=False, tasks=[task])
    return Playbook(Path.cwd() / where, [play])


def run_adhoc(inventory: Inventory, module: str, options: RunOptions, reporter: Reporter,
              args: dict[str, Any] | None = None, hosts: str = "all") -> RunResult:
    """Run one module on the hosts (narrowed by options.limit); bad input raises UserError first."""
    return run_playbook(adhoc_playbook(module, args, hosts), inventory, options, reporter)
