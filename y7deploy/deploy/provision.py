"""`y7deploy provision`: playbooks/provision.yml through the fleet runner, reported as `play` reports."""

from __future__ import annotations

from y7deploy.deploy.steps import playbook_path
from y7deploy.fleet.runner import RunOptions


def provision(inventory: list[str], run: RunOptions, *, json_output: bool = False) -> int:
    """Run provision.yml on the selected hosts; the exit code (0, 3, 4; bad input raises UserError)."""
    from y7deploy.fleet.inventory import load_inventory
    from y7deploy.fleet.playbook import load_playbook
    from y7deploy.fleet.report import make_reporter
    from y7deploy.fleet.runner import Runner, ssh_connector

    inv = load_inventory(inventory)
    runner = Runner(load_playbook(playbook_path("provision.yml")), inv, run, None, ssh_connector(inv, run))
    runner.prepare()  # bad input stops here, before any connection
    hosts = list(dict.fromkeys(h for hs in runner.play_hosts for h in hs))
    runner.reporter = make_reporter(json_output=json_output, hosts=hosts)
    return runner.run().exit_code
