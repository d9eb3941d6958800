"""The fleet half: inventory, SSH connections, the playbook runner, facts, rollout.

Modules import what they need from the submodules directly, e.g.
`from y7deploy.fleet.inventory import load_inventory` and
`from y7deploy.fleet.connection import Connection`; this package file imports
nothing, so `y7deploy --help` never pays for paramiko.

Never imports model/, train/, data/, lab/ or torch: an operator with only the
core install can push, roll back and watch a fleet.
"""
