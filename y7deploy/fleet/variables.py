"""A host's variables in Ansible's precedence, and the magic variables a play gives them.

Lowest to highest: magic (groups, hostvars, play hosts...) < inventory (group_vars,
host_vars, inline) < facts < play vars < task vars < set_fact and register < -e.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from y7deploy.fleet.templating import HostVars, Templar

OMIT = "__omit_place_holder__y7deploy__"


def magic(*, play_hosts: list[str], batch: list[str], active: Callable[[str], bool],
          groups: dict[str, list[str]], hostvars: "AllHostVars", check_mode: bool, diff_mode: bool,
          playbook_dir: str) -> dict[str, Any]:
    """The play's magic variables: ansible_play_batch is the current wave's hosts still
    standing, ansible_play_hosts the play's, ansible_play_hosts_all the play's as selected."""
    standing_batch = [h for h in batch if active(h)]
    return {
        "groups": groups,
        "hostvars": hostvars,
        "play_hosts": standing_batch,  # Ansible's old name of the batch
        "ansible_play_batch": standing_batch,
        "ansible_play_hosts": [h for h in play_hosts if active(h)],
        "ansible_play_hosts_all": play_hosts,
        "ansible_check_mode": check_mode,
        "ansible_diff_mode": diff_mode,
        "playbook_dir": playbook_dir,
        "omit": OMIT,
    }


def layered(templar: Templar, magic_vars: dict[str, Any], *, inventory: dict[str, Any], facts: dict[str, Any],
            play: dict[str, Any], task: dict[str, Any], runtime: dict[str, Any], extra_vars: dict[str, Any],
            extra: dict[str, Any] | None = None) -> HostVars:
    """One host's variables, later layers winning (see the module's docstring)."""
    layers = [magic_vars, inventory, facts, play, task, runtime, extra_vars]
    if extra:
        layers.append(extra)
    return HostVars(templar, layers)


class AllHostVars:
    """`hostvars[name]`: another host's variables, resolved on access."""

    def __init__(self, names: list[str], lookup: Callable[[str], HostVars]):
        self._names, self._lookup = names, lookup

    def __getitem__(self, name: str) -> HostVars:
        return self._lookup(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def keys(self) -> list[str]:
        return list(self._names)
