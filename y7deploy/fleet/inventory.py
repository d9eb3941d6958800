"""Ansible-compatible inventory: YAML and INI sources, group_vars/ and host_vars/.

An existing Ansible inventory must work unchanged, so this module follows
ansible-core's data model closely (checked against `ansible-inventory --list`
in tests/fleet): groups form a DAG under `all`; a host with no group lands in
`ungrouped`; variables merge with Ansible's default (replace) behaviour in
this order, later wins:

    all (inventory) < other groups (inventory) < group_vars/all
    < group_vars/<group> < host (inventory) < host_vars/<host>

where groups are ordered by (depth below `all`, ansible_group_priority, name),
so a child group beats its parent and a higher priority beats a sibling.

Host order (`Inventory.hosts`) is the order in which hosts first appear in the
sources. Ansible's own order for nested groups depends on set iteration, so we
pick the one a reader of the file expects.

Where we differ from Ansible on purpose: a file Ansible would skip with a
warning (unparseable, or a directory entry that is neither YAML nor INI) is a
UserError naming file and line; `!vault` values are refused; playbook-adjacent
group_vars/ (next to the playbook or the current directory) are not read here.

Public API (used by the runner):
    load_inventory(path | [paths]) -> Inventory
    Inventory.hosts               ordered host names
    Inventory.groups              {name: Group(name, hosts, children, parents, vars, priority)}
    Inventory.host_vars(name)     merged vars + inventory_hostname, inventory_hostname_short, group_names
    Inventory.group_names(name)   sorted group names of a host (without 'all')
    Inventory.group_hosts(name)   every host of a group and its descendants, inventory order
    Inventory.to_list_json()      the dict `ansible-inventory --list` prints (to_json(): its text)
    Inventory.group_vars(group)   a group's own vars (inventory + group_vars/)
    Inventory.host_json(name)     the dict `ansible-inventory --host NAME` prints
    Inventory.graph(group='all', show_vars=False) -> str, as `ansible-inventory --graph`
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from y7deploy.errors import UserError

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C: several times faster


class _YamlLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML plus Ansible's tags: `!unsafe` is a plain string here; `!vault` is refused by name."""


def _vault(loader: Any, node: Any) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "!vault values (ansible-vault) are not supported: use a variable from the environment "
        "or a file outside the inventory", node.start_mark)


_YamlLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
_YamlLoader.add_constructor("!vault", _vault)

YAML_EXTS = (".yml", ".yaml", ".json")
# What Ansible skips when an inventory is a directory (REJECT_EXTS + inventory ignores).
_IGNORED_IN_DIR = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$|"
    r"(\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)
# Vars Ansible computes itself; never part of --list output.
MAGIC_VARS = ("inventory_hostname", "inventory_hostname_short", "group_names")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


@dataclass
class Group:
    """A group: direct member hosts and child groups, both in the order they were added."""

    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1
    depth: int = 0


class Inventory:
    """Hosts, groups and their variables, as loaded from one or more sources."""

    def __init__(self, sources: list[Path]) -> None:
        self.sources = sources
        self.groups: dict[str, Group] = {"all": Group("all"), "ungrouped": Group("ungrouped")}
        self._add_child("all", "ungrouped")
        self.hosts: list[str] = []
        self._inline_vars: dict[str, dict[str, Any]] = {}
        self._host_groups: dict[str, list[str]] = {}  # direct groups only
        self._vars_cache: dict[str, dict[str, Any]] = {}
        self._file_vars_cache: dict[tuple[str, str], dict[str, Any]] = {}

    # -- building (used by the parsers) --------------------------------------------------

    def _add_group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def _add_host(self, name: str, group: str | None, port: int | None = None) -> None:
        if name not in self._inline_vars:
            self.hosts.append(name)
            self._inline_vars[name] = {"ansible_port": port} if port else {}
            self._host_groups[name] = []
        if group and name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
            self._host_groups[name].append(group)

    def _set_var(self, entity: str, key: str, value: Any, *, is_group: bool) -> None:
        if is_group:
            if key == "ansible_group_priority":
                self.groups[entity].priority = int(value)
            else:
                self.groups[entity].vars[key] = value
        else:
            self._inline_vars[entity][key] = value

    def _add_child(self, parent: str, child: str) -> None:
        if child == parent or child in self._ancestors(parent):
            raise ValueError(f"adding group {child!r} to {parent!r} creates a dependency loop")
        p, c = self.groups[parent], self.groups[child]
        if child not in p.children:
            p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)

    def _reconcile(self) -> None:
        """Ansible's rules after parsing: orphan groups go under all, groupless hosts to ungrouped."""
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                self._add_child("all", name)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts:
            direct = self._host_groups[host]
            others = [g for g in direct if g not in ("all", "ungrouped")]
            if "ungrouped" in direct and others:
                ungrouped.hosts.remove(host)
                direct.remove("ungrouped")
            elif not others and "ungrouped" not in direct:
                ungrouped.hosts.append(host)
                direct.append("ungrouped")
        self._compute_depths()

    def _compute_depths(self) -> None:
        """Depth = longest path from `all`, what Ansible's incremental depth ends up as."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:  # topological order, parents first
            if name in seen:
                return
            seen.add(name)
            for parent in self.groups[name].parents:
                visit(parent)
            order.append(name)

        for name in self.groups:
            visit(name)
        for name in order:
            group = self.groups[name]
            group.depth = max((self.groups[p].depth + 1 for p in group.parents), default=0)

    # -- queries ---------------------------------------------------------------------------

    def _ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        todo = list(self.groups[name].parents)
        while todo:
            g = todo.pop()
            if g not in found:
                found.add(g)
                todo.extend(self.groups[g].parents)
        return found

    def _all_groups_of(self, host: str) -> set[str]:
        groups: set[str] = set()
        for g in self._host_groups[host]:
            groups.add(g)
            groups |= self._ancestors(g)
        return groups

    def group_names(self, host: str) -> list[str]:
        """Every group the host belongs to, directly or through children, sorted, without `all`."""
        return sorted(self._all_groups_of(host) - {"all"})

    def group_hosts(self, group: str) -> list[str]:
        """All hosts of a group and its descendant groups, in Ansible's order (Group.get_hosts):
        the group's own hosts, then its children's, then theirs, level by level, each group's
        hosts in the order they were added. (Ansible walks a level in set order, which for a
        tree deeper than one level of groups-with-children is not even stable between its own
        runs; here a level keeps the order its groups were found in.)"""
        ordered, level = [group], [group]
        seen = {group}
        while level:
            below = [c for g in level for c in self.groups[g].children]
            level = [c for c in dict.fromkeys(below) if c not in seen]
            seen.update(level)
            ordered += level
        return list(dict.fromkeys(h for g in ordered for h in self.groups[g].hosts))

    def _sorted_groups(self, names: Iterable[str]) -> list[Group]:
        return sorted((self.groups[n] for n in names), key=lambda g: (g.depth, g.priority, g.name))

    def _file_vars(self, kind: str, name: str) -> dict[str, Any]:
        """group_vars/NAME or host_vars/NAME next to every source, merged in source order."""
        key = (kind, name)
        if key not in self._file_vars_cache:
            merged: dict[str, Any] = {}
            for base in _vars_dirs(self.sources):
                for path in _find_vars_files(base / kind, name):
                    merged.update(_load_vars_file(path))
            self._file_vars_cache[key] = merged
        return self._file_vars_cache[key]

    def host_vars(self, host: str) -> dict[str, Any]:
        """The host's variables with Ansible's precedence applied, plus its magic vars.

        Returns a fresh deep copy each call; callers may modify it.
        """
        if host not in self._inline_vars:
            raise UserError(f"unknown host {host!r} in inventory {', '.join(map(str, self.sources))}")
        if host not in self._vars_cache:
            groups = self._sorted_groups(self._all_groups_of(host) - {"all"})
            merged: dict[str, Any] = dict(self.groups["all"].vars)
            for g in groups:
                merged.update(g.vars)
            merged.update(self._file_vars("group_vars", "all"))
            for g in groups:
                merged.update(self._file_vars("group_vars", g.name))
            merged.update(self._inline_vars[host])
            merged.update(self._file_vars("host_vars", host))
            self._vars_cache[host] = merged
        result = copy.deepcopy(self._vars_cache[host])  # a caller's edits never leak to other hosts
        result["inventory_hostname"] = host
        result["inventory_hostname_short"] = host if _IPV4.match(host) or ":" in host else host.split(".")[0]
        result["group_names"] = self.group_names(host)
        return result

    def group_vars(self, group: str) -> dict[str, Any]:
        """A group's own variables (inventory + group_vars/), as `--graph --vars` shows them."""
        merged = dict(self.groups[group].vars)
        merged.update(self._file_vars("group_vars", group))
        if self.groups[group].priority != 1:
            merged["ansible_group_priority"] = self.groups[group].priority
        return merged

    def host_json(self, host: str) -> dict[str, Any]:
        """What `ansible-inventory --host HOST` prints."""
        return {k: v for k, v in self.host_vars(host).items() if k not in MAGIC_VARS}

    def to_list_json(self) -> dict[str, Any]:
        """What `ansible-inventory --list` prints (same keys, lists in the same order)."""
        out: dict[str, Any] = {}
        seen: set[str] = set()

        def emit(name: str) -> None:
            group = self.groups[name]
            entry: dict[str, Any] = {}
            if name != "all" and group.hosts:
                entry["hosts"] = list(group.hosts)
            if group.children:
                entry["children"] = list(group.children)
            for child in group.children:
                if child not in seen:
                    seen.add(child)
                    emit(child)
            if entry:
                out[name] = entry

        emit("all")
        hostvars = {}
        for host in self.hosts:
            hv = self.host_json(host)
            if hv:
                hostvars[host] = hv
        out["_meta"] = {"hostvars": hostvars, "profile": "inventory_legacy"}
        return out

    def graph(self, group: str = "all", show_vars: bool = False) -> str:
        """The tree `ansible-inventory --graph [--vars]` draws."""
        if group not in self.groups:
            raise UserError(f"--graph: {group!r} is not a group of the inventory")
        lines: list[str] = []

        def name_at(text: str, depth: int) -> str:
            return "  |" * depth + "--" + text if depth else text

        def show(values: dict[str, Any], depth: int) -> None:
            for k, v in sorted(values.items()):
                lines.append(name_at("{%s = %s}" % (k, v), depth))

        def walk(name: str, depth: int) -> None:
            lines.append(name_at(f"@{name}:", depth))
            g = self.groups[name]
            for child in g.children:
                walk(child, depth + 1)
            if name != "all":
                for host in g.hosts:
                    lines.append(name_at(host, depth + 1))
                    if show_vars:
                        show(self.host_json(host), depth + 2)
            if show_vars:
                show(self.group_vars(name), depth + 1)

        walk(group, 0)
        return "\n".join(lines)

    def to_json(self) -> str:
        """to_list_json() formatted byte for byte as ansible-inventory prints it."""
        return json.dumps(self.to_list_json(), sort_keys=True, indent=4, default=str)


# -- loading ---------------------------------------------------------------------------------


def load_inventory(path: str | os.PathLike | list[str | os.PathLike]) -> Inventory:
    """Read an inventory file or directory (or several, or a `host1,host2,` list).

    Raises UserError naming file and line on bad input.
    """
    sources = [str(p) for p in (path if isinstance(path, list) else [path])]
    files = [Path(s) for s in sources if not _is_host_list(s)]
    inv = Inventory([p.absolute() for p in files])
    for source in sources:
        if _is_host_list(source):  # `-i jetson01,jetson02,` as with ansible
            for host in (h.strip() for h in source.split(",")):
                if host:
                    name, port = split_port(host)  # like ansible's host_list plugin: no ranges
                    inv._add_host(name, "ungrouped", port)
            continue
        if not Path(source).exists():
            raise UserError(f"inventory {source} does not exist")
        _parse_source(inv, Path(source))
    inv._reconcile()
    return inv


def _is_host_list(source: str) -> bool:
    return "," in source and not os.path.exists(source)


def _parse_source(inv: Inventory, path: Path) -> None:
    if path.is_dir():
        for entry in sorted(os.listdir(path)):
            if not _IGNORED_IN_DIR.search(entry):
                _parse_source(inv, path / entry)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read inventory: {exc}") from None
    data = _yaml_or_none(text, path) if path.suffix in ("",) + YAML_EXTS else None
    if data is not None:
        _parse_yaml(inv, path, data)
    else:
        _IniParser(inv, path).parse(text)


def _yaml_or_none(text: str, path: Path) -> Any:
    """Ansible tries the YAML plugin first, then INI; a file named .yml must be valid YAML."""
    try:
        data = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        if path.suffix in YAML_EXTS:
            raise UserError(_yaml_error(path, exc)) from None
        return None
    if isinstance(data, dict) or path.suffix in YAML_EXTS:
        return data if data is not None else {}
    return None


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: invalid YAML: {problem}"


def _parse_yaml(inv: Inventory, path: Path, data: Any) -> None:
    if not data:
        raise UserError(f"{path}: empty YAML inventory")
    if not isinstance(data, dict):
        raise UserError(f"{path}: a YAML inventory must be a mapping of groups, got {type(data).__name__}")
    if data.get("plugin"):
        raise UserError(f"{path}: inventory plugin configs ({data['plugin']!r}) are not supported")

    def group(name: Any, body: Any, where: str) -> str:
        if not isinstance(name, str) or not name:
            raise UserError(f"{path}: invalid group name {name!r} in {where}")
        if body is not None and not isinstance(body, dict):
            raise UserError(f"{path}: group {name!r} must be a mapping, got {type(body).__name__}")
        inv._add_group(name)
        for section in ("vars", "children", "hosts"):
            if isinstance((body or {}).get(section), str):
                body[section] = {body[section]: None}
        for key, value in (body or {}).items():
            if value is None:
                continue
            if key not in ("vars", "children", "hosts"):
                raise UserError(f"{path}: group {name!r} has unknown key {key!r} (only vars, children, hosts)")
            if not isinstance(value, dict):
                raise UserError(f"{path}: {key!r} of group {name!r} must be a mapping, got {type(value).__name__}")
            if key == "vars":
                for k, v in value.items():
                    inv._set_var(name, str(k), v, is_group=True)
            elif key == "children":
                for child, child_body in value.items():
                    child = group(child, child_body, f"children of {name!r}")
                    try:
                        inv._add_child(name, child)
                    except ValueError as exc:
                        raise UserError(f"{path}: {exc}") from None
            else:
                for pattern, hvars in value.items():
                    if not isinstance(pattern, str):
                        raise UserError(f"{path}: host {pattern!r} in group {name!r} must be a string (quote it)")
                    if hvars is not None and not isinstance(hvars, dict):
                        raise UserError(f"{path}: vars of host {pattern!r} must be a mapping")
                    try:
                        names, port = expand_host_pattern(pattern)
                    except ValueError as exc:
                        raise UserError(f"{path}: host {pattern!r}: {exc}") from None
                    for host in names:
                        inv._add_host(host, name, port)
                        for k, v in (hvars or {}).items():
                            inv._set_var(host, str(k), v, is_group=False)
        return name

    for name, body in data.items():
        group(name, body, "the top level")


class _IniParser:
    """Ansible's INI inventory: sections [g], [g:children], [g:vars]; key=value parsed as Python literals."""

    _SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
    _GROUPNAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")

    def __init__(self, inv: Inventory, path: Path) -> None:
        self.inv = inv
        self.path = path
        self.line = 0

    def fail(self, msg: str) -> UserError:
        return UserError(f"{self.path}:{self.line}: {msg}")

    def parse(self, text: str) -> None:
        inv = self.inv
        pending: dict[str, dict[str, Any]] = {}
        group, state = "ungrouped", "hosts"
        for self.line, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = self._SECTION.match(line)
            if m:
                group, state = m.group(1), m.group(2) or "hosts"
                if state not in ("hosts", "children", "vars"):
                    raise self.fail(f"section [{line[1:-1]}] has unknown type {state!r}")
                if group not in inv.groups:
                    if state == "vars" and group not in pending:
                        pending[group] = {"line": self.line, "state": state, "parents": []}
                    inv._add_group(group)
                if group in pending and state != "vars":
                    if pending[group]["state"] == "children":
                        self._add_pending_children(group, pending)
                    else:
                        del pending[group]
                continue
            if line.startswith("[") and line.endswith("]"):
                raise self.fail(f"invalid section {line!r} (no spaces or other characters allowed)")
            if state == "hosts":
                self._host_line(line, group)
            elif state == "vars":
                if "=" not in line:
                    raise self.fail(f"expected key=value, got {line!r}")
                key, value = (part.strip() for part in line.split("=", 1))
                inv._set_var(group, key, parse_ini_value(value), is_group=True)
            else:
                m = self._GROUPNAME.match(line)
                if not m:
                    raise self.fail(f"expected a group name, got {line!r}")
                child = m.group(1)
                if child in inv.groups:
                    self._child(group, child)
                elif child in pending:
                    pending[child]["parents"].append(group)
                else:
                    pending[child] = {"line": self.line, "state": "children", "parents": [group]}
        for name, decl in pending.items():
            self.line = decl["line"]
            if decl["state"] == "vars":
                raise self.fail(f"section [{name}:vars] is for group {name!r}, which is never defined")
            raise self.fail(f"section [{decl['parents'][-1]}:children] names undefined group {name!r}")

    def _child(self, parent: str, child: str) -> None:
        try:
            self.inv._add_child(parent, child)
        except ValueError as exc:
            raise self.fail(str(exc)) from None

    def _add_pending_children(self, group: str, pending: dict[str, dict[str, Any]]) -> None:
        for parent in pending[group]["parents"]:
            self._child(parent, group)
            if parent in pending and pending[parent]["state"] == "children":
                self._add_pending_children(parent, pending)
        del pending[group]

    def _host_line(self, line: str, group: str) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(f"cannot parse host line {line!r}: {exc}") from None
        if not tokens:
            return
        try:
            names, port = expand_host_pattern(tokens[0])
        except ValueError as exc:
            raise self.fail(f"host {tokens[0]!r}: {exc}") from None
        if tokens[0].endswith(":") and port is None:
            raise self.fail(f"host {tokens[0]!r} ends in ':' with no port")
        if tokens[0] == "---":
            raise self.fail("'---' in an INI inventory: is this a YAML file with the wrong extension?")
        hvars = {}
        for token in tokens[1:]:
            if "=" not in token:
                raise self.fail(f"expected key=value host variable, got {token!r}")
            key, value = token.split("=", 1)
            hvars[key] = parse_ini_value(value)
        for host in names:
            self.inv._add_host(host, group, port)
            for key, value in hvars.items():
                self.inv._set_var(host, key, value, is_group=False)


def parse_ini_value(text: str) -> Any:
    """An INI value as Ansible types it: a Python literal if it is one, else the string."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is ... or isinstance(value, complex):
        return "..." if value is ... else str(value)
    return value


# -- host patterns in sources: ranges and ports ---------------------------------------------------

_BRACKETED_PORT = re.compile(r"^\[([^\]]+)\]:(\d+)$")
_RANGE = re.compile(r"\[[^\]]*\]")


def split_port(pattern: str) -> tuple[str, int | None]:
    """`host:2222` -> ('host', 2222); `[fe80::1]:22` -> ('fe80::1', 22); a bare IPv6 keeps its colons."""
    pattern = pattern.strip()
    m = _BRACKETED_PORT.match(pattern)
    if m and m.group(1).count(":") >= 2 and not _RANGE.search(m.group(1)):
        return m.group(1), int(m.group(2))
    head, sep, tail = pattern.rpartition(":")
    if sep and tail.isdigit() and ":" not in _RANGE.sub("", head):
        return head, int(tail)
    return pattern, None


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """`jetson[01:12].site-a:2222` -> (['jetson01.site-a', ...], 2222). Raises ValueError."""
    host, port = split_port(pattern)
    return expand_host_range(host), port


def expand_host_range(pattern: str) -> list[str]:
    """Ansible's host ranges: `[01:10]` (zero padded), `[a:f]`, `[1:10:3]`, several per name."""
    if "[" not in pattern:
        return [pattern]
    if "]" not in pattern:
        raise ValueError("host range has no closing ']'")
    head, rest = pattern.split("[", 1)
    body, tail = rest.split("]", 1)
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"host range [{body}] must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise ValueError(f"host range [{body}] has no end")
    try:
        step = int(step_text)
    except ValueError:
        raise ValueError(f"host range [{body}] has a non-numeric step") from None
    if step <= 0:
        raise ValueError(f"host range [{body}] needs a positive step")
    if begin in string.ascii_letters and end in string.ascii_letters:
        i, j = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if i > j:
            raise ValueError(f"host range [{body}] must have begin <= end")
        items = list(string.ascii_letters[i : j + 1 : step])
    else:
        if begin[0] == "0" and len(begin) > 1 and len(begin) != len(end):
            raise ValueError(f"host range [{body}] must have begin and end of equal length when zero padded")
        try:
            lo, hi = int(begin), int(end)
        except ValueError:
            raise ValueError(f"host range [{body}] is neither numeric nor a single letter") from None
        width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
        items = [str(n).zfill(width) for n in range(lo, hi + 1, step)]
    names: list[str] = []
    for item in items:
        names.extend(expand_host_range(head + item + tail))
    return names


# -- group_vars / host_vars files ---------------------------------------------------------------


def _vars_dirs(sources: list[Path]) -> list[Path]:
    dirs: list[Path] = []
    for s in sources:
        d = s if s.is_dir() else s.parent
        if d not in dirs:
            dirs.append(d)
    return dirs


def _find_vars_files(base: Path, name: str) -> list[Path]:
    """NAME, NAME.yml, NAME.yaml, NAME.json: the first that exists; a directory is read whole."""
    if not base.is_dir():
        return []
    for ext in ("",) + YAML_EXTS:
        candidate = base / (name + ext)
        if candidate.is_dir():
            return _dir_vars_files(candidate)
        if candidate.exists():
            return [candidate]
    return []


def _dir_vars_files(path: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = path / entry
        ext = os.path.splitext(entry)[1]
        if full.is_dir() and not ext:
            found.extend(_dir_vars_files(full))
        elif full.is_file() and (not ext or ext in YAML_EXTS):
            found.append(full)
    return found


def _load_vars_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        raise UserError(_yaml_error(path, exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: variables file must be a mapping, got {type(data).__name__}")
    return data
