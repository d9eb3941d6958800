"""Host patterns, as in a play's `hosts:` and `--limit`.

Ansible's syntax: `host`, `group`, globs (`jetson*`), `~regex`, `all` or `*`,
separated by `,` (or `:` when that cannot be part of a host name), with `&x`
(intersection) and `!x` (exclusion) applied after the plain terms, whatever
their place in the pattern. A group matches all hosts below it; `group[0]`
or `group[1:3]` picks by position. `@file` reads one pattern per line.

Unlike Ansible, which warns and runs on nothing, a term that matches no host
or group is an error (strict=True): a typo in `--limit` must never silently
target zero hosts or, worse, a different set.

    select_hosts(inventory, pattern, strict=True) -> list[str]   (the pattern's order, as Ansible)
    split_pattern(pattern) -> list[str]
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from y7deploy.errors import UserError
from y7deploy.fleet.inventory import Inventory

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?\d+)|(\d+):(\d*))\]$")
_GLOB_CHARS = set("*?[.")


def split_pattern(pattern: str | list[str]) -> list[str]:
    """'a,b:!c' -> ['a', 'b', '!c']; ':' splits only where it can't be a range or IPv6."""
    if isinstance(pattern, list):
        return [term for p in pattern for term in split_pattern(p)]
    pattern = str(pattern)
    if "," in pattern:
        terms = pattern.split(",")
    elif pattern.count(":") >= 2 and re.fullmatch(r"[0-9a-fA-F:.]+", pattern):
        terms = [pattern]  # an IPv6 address
    else:
        terms = re.split(r":(?![^\[]*\])", pattern)  # not the ':' of a [1:3] subscript
    return [t.strip() for t in terms if t.strip()]


def select_hosts(inventory: Inventory, pattern: str | list[str], *, strict: bool = True) -> list[str]:
    """Names of the hosts the pattern selects, in Ansible's order: term by term as written
    (`canary,all` puts the canary first), a group's hosts as Inventory.group_hosts gives them.

    strict: a term matching nothing raises UserError (exit 2), naming the term.
    """
    terms: list[str] = []
    for term in split_pattern(pattern):
        terms.extend(_read_pattern_file(term) if term.startswith("@") else [term])
    plain = [t for t in terms if t[0] not in "&!"]
    inter = [t[1:] for t in terms if t[0] == "&"]
    exclude = [t[1:] for t in terms if t[0] == "!"]
    selected: dict[str, None] = {}
    for term in plain or ["all"]:
        for host in _match(inventory, term, strict):
            selected[host] = None
    for term in inter:
        keep = set(_match(inventory, term, strict))
        selected = {h: None for h in selected if h in keep}
    for term in exclude:
        drop = set(_match(inventory, term, strict))
        selected = {h: None for h in selected if h not in drop}
    return list(selected)


def _read_pattern_file(term: str) -> list[str]:
    path = Path(term[1:])
    try:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise UserError(f"limit file {path}: {exc.strerror}") from None


def _match(inventory: Inventory, term: str, strict: bool) -> list[str]:
    """Hosts of one term; a group's hosts (with its children), else hosts by name."""
    if term in ("all", "*"):
        return inventory.group_hosts("all")
    if term in inventory.hosts and term not in inventory.groups:
        return [term]
    subscript = None
    if term[0] != "~":
        m = _SUBSCRIPT.match(term)
        if m:
            term = m.group(1)
            subscript = (int(m.group(2)), None) if m.group(2) else (int(m.group(3)), int(m.group(4) or -1))
    try:
        rx = re.compile(term[1:] if term[0] == "~" else fnmatch.translate(term))
    except re.error as exc:
        raise UserError(f"invalid host pattern {term!r}: {exc}") from None
    groups = [g for g in inventory.groups if g not in ("all", "ungrouped") and rx.match(g)]
    if term == "ungrouped":
        groups = ["ungrouped"]
    hosts: dict[str, None] = {}
    for g in groups:
        hosts.update(dict.fromkeys(inventory.group_hosts(g)))
    if not groups or term[0] == "~" or _GLOB_CHARS & set(term):
        hosts.update(dict.fromkeys(h for h in inventory.hosts if rx.match(h)))
    result = list(hosts)
    if subscript:
        start, end = subscript
        try:
            result = [result[start]] if end is None else result[start : (len(result) - 1 if end == -1 else end) + 1]
        except IndexError:
            raise UserError(f"host pattern {term}[{start}] is beyond the {len(result)} hosts it matches") from None
    if strict and not result and not groups:
        raise UserError(f"host pattern {term!r} matches no host or group in the inventory")
    return result
