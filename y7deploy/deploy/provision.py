"""`y7deploy provision`: playbooks/provision.yml through the fleet runner, reported as `play` reports.

The parser's src-sha is computed here from the workstation's DeepStream-Yolo checkout
(deploy/parser.tree_sha) and handed to the playbook as `y7_parser_sha`, as its header asks
of a caller.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from y7deploy.deploy import parser
from y7deploy.deploy.steps import playbook_path
from y7deploy.errors import UserError
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
    if "y7_parser_sha" not in run.extra_vars:
        sha = _parser_sha(inv, hosts, run)
        if sha:
            runner.options = replace(run, extra_vars={**run.extra_vars, "y7_parser_sha": sha})
    runner.reporter = make_reporter(json_output=json_output, hosts=hosts)
    return runner.run().exit_code


def _parser_sha(inv, hosts: list[str], run: RunOptions) -> str:
    """src-sha of the one DeepStream-Yolo checkout the hosts name (`deepstream_yolo_src`)."""
    sources = {str(run.extra_vars.get("deepstream_yolo_src") or inv.host_vars(h).get("deepstream_yolo_src") or "")
               for h in hosts}
    sources.discard("")
    if len(sources) != 1:
        return ""  # none (the playbook says so) or several: each host's own lookup decides
    tree = Path(next(iter(sources))) / parser.PARSER_DIR
    if not tree.is_dir():
        raise UserError(f"deepstream_yolo_src: {tree} is not a directory (a DeepStream-Yolo checkout)")
    return parser.tree_sha(tree)
