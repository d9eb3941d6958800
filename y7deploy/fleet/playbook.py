"""Load a playbook in Ansible's shape and refuse anything wrong before a host is touched.

Every mapping read from YAML remembers its line, so an error says `file:line: what`.
Validation is complete up front: unknown keyword, unknown module or argument, Jinja
syntax error, a variable no layer defines. A playbook that loads will not stop halfway
because of a typo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from y7deploy.errors import UserError
from y7deploy.fleet import templating
from y7deploy.fleet.modules import MODULES, canonical_name

# --- YAML with line numbers --------------------------------------------------------------


class LineDict(dict):
    """A mapping read from YAML, with the 1-based line it starts on."""

    line = 0


class LineList(list):
    line = 0


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode):
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


def _construct_seq(loader: yaml.SafeLoader, node: yaml.SequenceNode):
    data = LineList()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml(path: Path) -> Any:
    """YAML from a file, each mapping carrying its line; errors name file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        context = ""
        if exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise UserError(f"{path}:{line}: malformed YAML: {exc.problem or exc.context}{context}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML: {exc}") from None


# --- the playbook model -----------------------------------------------------------------------

TASK_KEYS = {
    "name", "when", "loop", "with_items", "with_list", "loop_control", "register", "notify",
    "tags", "changed_when", "failed_when", "ignore_errors", "retries", "until", "delay",
    "no_log", "check_mode", "diff", "become", "become_user", "vars", "args", "listen",
    "run_once", "any_errors_fatal", "environment", "timeout",
}
PLAY_KEYS = {
    "name", "hosts", "serial", "max_fail_percentage", "any_errors_fatal", "vars", "vars_files",
    "gather_facts", "become", "become_user", "tasks", "handlers", "pre_tasks", "post_tasks",
    "tags", "order", "strategy", "environment",
}


@dataclass
class Task:
    """One task: a module call and the keywords around it, exactly as written (untemplated)."""

    module: str
    args: dict[str, Any]
    file: str
    line: int
    name: str = ""
    when: list[Any] = field(default_factory=list)
    loop: Any = None
    loop_var: str = "item"
    loop_label: str | None = None
    register: str | None = None
    notify: list[str] = field(default_factory=list)
    listen: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    changed_when: list[Any] | None = None
    failed_when: list[Any] | None = None
    ignore_errors: bool = False
    retries: int | None = None
    until: list[Any] | None = None
    delay: float = 5.0
    no_log: bool = False
    check_mode: bool | None = None
    diff: bool | None = None
    become: bool | None = None
    run_once: bool = False
    any_errors_fatal: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    timeout: Any = None  # seconds (or a template giving them): the task fails when its time is up

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def title(self) -> str:
        return self.name or self.module


@dataclass
class Block:
    """`block:` with optional `rescue:` and `always:`. Its keywords were copied onto its tasks
    when loaded (as Ansible inherits them), so the runner only needs the three lists."""

    tasks: list[Any]
    file: str
    line: int
    name: str = ""
    rescue: list[Any] = field(default_factory=list)
    always: list[Any] = field(default_factory=list)


def iter_tasks(items: list[Any]):
    """Every Task in a list of tasks and blocks, depth first."""
    for item in items:
        if isinstance(item, Block):
            yield from iter_tasks(item.tasks + item.rescue + item.always)
        else:
            yield item


@dataclass
class Play:
    hosts: str
    file: str
    line: int
    name: str = ""
    serial: list[Any] = field(default_factory=list)
    max_fail_percentage: float | None = None
    any_errors_fatal: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    gather_facts: bool = True
    become: bool = False
    tasks: list[Task] = field(default_factory=list)
    handlers: list[Task] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)


@dataclass
class Playbook:
    path: Path
    plays: list[Play]

    @property
    def directory(self) -> Path:
        return self.path.parent


# --- parsing ------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _as_bool(value: Any, where: str, key: str) -> bool:
    from y7deploy.fleet.convert import parse_bool

    try:
        return parse_bool(value)
    except ValueError as exc:
        raise UserError(f"{where}: {key}: {exc}") from None


def _split_args(text: str) -> list[str]:
    """Split on whitespace outside quotes and outside `{{ }}`/`{% %}`, as Ansible's parse_kv."""
    words, current, quote, depth, i = [], "", "", 0, 0
    while i < len(text):
        ch, pair = text[i], text[i:i + 2]
        if quote:
            current += ch
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif pair in ("{{", "{%"):
            depth, current, i = depth + 1, current + pair, i + 1
        elif pair in ("}}", "%}") and depth:
            depth, current, i = depth - 1, current + pair, i + 1
        elif ch in "'\"" and not depth:
            quote, current = ch, current + ch
        elif ch.isspace() and not depth:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if quote or depth:
        raise ValueError("unbalanced quotes or braces")
    if current:
        words.append(current)
    return words


def _parse_kv(text: str, where: str) -> dict[str, Any]:
    """Ansible's `path=/x state=directory` argument string."""
    args: dict[str, Any] = {}
    try:
        words = _split_args(text)
    except ValueError as exc:
        raise UserError(f"{where}: cannot parse arguments {text!r}: {exc}") from None
    for word in words:
        if "=" not in word:
            raise UserError(f"{where}: argument {word!r} is not key=value")
        key, value = word.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        args[key] = value
    return args


def parse_task(data: Any, file: str, *, handler: bool = False) -> Task:
    line = getattr(data, "line", 0)
    where = f"{file}:{line}"
    if not isinstance(data, dict):
        raise UserError(f"{where}: a task must be a mapping, got {type(data).__name__}")
    unknown = [k for k in data if k not in TASK_KEYS]
    modules = [k for k in unknown if canonical_name(str(k)) in MODULES]
    others = [k for k in unknown if k not in modules]
    if "include_tasks" in data or "import_tasks" in data:
        raise UserError(f"{where}: include_tasks/import_tasks are not supported; list the tasks inline")
    if others:
        raise UserError(f"{where}: unknown module or task keyword {others[0]!r}")
    if len(modules) != 1:
        what = "no module" if not modules else f"more than one module ({', '.join(map(str, modules))})"
        raise UserError(f"{where}: task {data.get('name', '')!r} has {what}")
    module_key = modules[0]
    module = canonical_name(str(module_key))
    spec = MODULES[module].SPEC
    raw = data[module_key]
    if raw is None:
        args: dict[str, Any] = {}
    elif isinstance(raw, dict):
        args = dict(raw)
    elif isinstance(raw, str) and spec.free_form:
        args = {"_raw_params": raw}
    elif isinstance(raw, str):
        args = _parse_kv(raw, where)
    else:
        raise UserError(f"{where}: arguments of {module_key} must be a mapping, got {raw!r}")
    extra = data.get("args") or {}
    if not isinstance(extra, dict):
        raise UserError(f"{where}: args must be a mapping")
    args.update(extra)
    name = str(data.get("name") or "")
    spec.validate(args, f"{where}: task {name!r}" if name else where, module)

    task = Task(module=module, args=args, file=file, line=line, name=name)
    task.when = _as_list(data.get("when"))
    task.loop = _parse_loop(data, where)
    control = data.get("loop_control") or {}
    if not isinstance(control, dict):
        raise UserError(f"{where}: loop_control must be a mapping")
    task.loop_var = str(control.get("loop_var", "item"))
    task.loop_label = control.get("label")
    task.register = data.get("register")
    if task.register is not None and not str(task.register).isidentifier():
        raise UserError(f"{where}: register name {task.register!r} is not a valid variable name")
    task.notify = [str(n) for n in _as_list(data.get("notify"))]
    task.listen = [str(n) for n in _as_list(data.get("listen"))]
    task.tags = {str(t) for t in _as_list(data.get("tags"))}
    if "changed_when" in data:
        task.changed_when = _as_list(data["changed_when"])
    if "failed_when" in data:
        task.failed_when = _as_list(data["failed_when"])
    if "until" in data:
        task.until = _as_list(data["until"])
    for key in ("ignore_errors", "no_log", "run_once", "any_errors_fatal"):
        if key in data:
            setattr(task, key, _as_bool(data[key], where, key))
    for key in ("check_mode", "diff", "become"):
        if key in data:
            setattr(task, key, _as_bool(data[key], where, key))
    try:
        if "retries" in data:
            task.retries = int(data["retries"])
        if "delay" in data:
            task.delay = float(data["delay"])
    except (TypeError, ValueError):
        raise UserError(f"{where}: retries and delay must be numbers") from None
    if "timeout" in data:
        task.timeout = data["timeout"]
        if not templating.is_template(task.timeout) and timeout_seconds(task.timeout) is None:
            raise UserError(f"{where}: timeout {task.timeout!r} is not a number of seconds above 0")
    if task.until is not None and task.retries is None:
        task.retries = 3  # Ansible's default when only `until` is given
    for key in ("vars", "environment"):
        value = data.get(key) or {}
        if not isinstance(value, dict):
            raise UserError(f"{where}: {key} must be a mapping")
        setattr(task, key, dict(value))
    if handler and not task.name and not task.listen:
        raise UserError(f"{where}: a handler needs a name (or listen:) to be notified by")
    return task


def timeout_seconds(value: Any) -> float | None:
    """A task's timeout as seconds, or None when it is not a number above 0."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 and not isinstance(value, bool) else None


def _parse_loop(data: dict, where: str) -> Any:
    """`loop:` must be a list or a template giving one (refused here when it is literally
    neither, as ansible-core refuses it); `with_items`/`with_list` take a single value as a
    one-item list, as ansible-core's lookups do."""
    if "loop" in data:
        loop = data["loop"]
        if loop is not None and not isinstance(loop, list) and not templating.is_template(loop):
            named = f"task {str(data['name'])!r}: " if data.get("name") else ""
            raise UserError(f"{where}: {named}loop must be a list "
                            f"(or a template giving one), got {type(loop).__name__} {loop!r}")
        return loop
    for key in ("with_items", "with_list"):
        if key in data:
            loop = data[key]
            return loop if loop is None or isinstance(loop, list) or templating.is_template(loop) else [loop]
    return None


BLOCK_KEYS = {"block", "rescue", "always", "name", "when", "tags", "become", "vars", "environment",
              "ignore_errors", "no_log", "any_errors_fatal", "check_mode", "diff"}


def parse_item(data: Any, file: str) -> Any:
    """A task, or a block of tasks (with rescue/always)."""
    if isinstance(data, dict) and "block" in data:
        return parse_block(data, file)
    return parse_task(data, file)


def parse_block(data: dict, file: str) -> Block:
    line = getattr(data, "line", 0)
    where = f"{file}:{line}"
    unknown = [k for k in data if k not in BLOCK_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown block keyword {unknown[0]!r}")
    sections = {}
    for key in ("block", "rescue", "always"):
        items = data.get(key) or []
        if not isinstance(items, list):
            raise UserError(f"{where}: {key} must be a list of tasks")
        sections[key] = [parse_item(t, file) for t in items]
    block = Block(sections["block"], file, line, str(data.get("name") or ""),
                  sections["rescue"], sections["always"])
    _inherit(block, data, where)
    return block


def _inherit(block: Block, data: dict, where: str) -> None:
    """Copy a block's keywords onto every task inside it, as Ansible applies them."""
    when = _as_list(data.get("when"))
    tags = {str(t) for t in _as_list(data.get("tags"))}
    block_vars = data.get("vars") or {}
    env = data.get("environment") or {}
    if not isinstance(block_vars, dict) or not isinstance(env, dict):
        raise UserError(f"{where}: vars and environment of a block must be mappings")
    for task in iter_tasks(block.tasks + block.rescue + block.always):
        task.when = when + task.when
        task.tags |= tags
        task.vars = {**block_vars, **task.vars}
        task.environment = {**env, **task.environment}
        for key in ("become", "check_mode", "diff"):
            if key in data and getattr(task, key) is None:
                setattr(task, key, _as_bool(data[key], where, key))
        for key in ("ignore_errors", "no_log", "any_errors_fatal"):
            if key in data and _as_bool(data[key], where, key):
                setattr(task, key, True)


def parse_serial(value: Any, where: str) -> list[Any]:
    """`serial` as a list of counts and percentages; `"1,25%,100%"` is split like a list.

    A Jinja string (`"{{ waves }}"`) is kept as written and resolved by the runner, before
    any host is touched, with the play's vars and -e.
    """
    if isinstance(value, str) and "," in value and not templating.is_template(value):
        value = [v.strip() for v in value.split(",")]
    items = _as_list(value)
    for item in items:
        ok = isinstance(item, int) and not isinstance(item, bool)
        if isinstance(item, str):
            text = item[:-1] if item.endswith("%") else item
            ok = text.strip().isdigit() or templating.is_template(item)
        if not ok:
            raise UserError(f"{where}: serial must be a number, a percentage or a list of them, got {item!r}")
    return items


def parse_max_fail(value: Any, where: str) -> float | str | None:
    """A percentage (`20`, `"20%"`), None, or a Jinja string the runner resolves."""
    if value is None or templating.is_template(value):
        return value
    try:
        return float(str(value).rstrip("%"))
    except ValueError:
        raise UserError(f"{where}: max_fail_percentage must be a number, got {value!r}") from None


def parse_play(data: Any, file: str, base_dir: Path) -> Play:
    line = getattr(data, "line", 0)
    where = f"{file}:{line}"
    if not isinstance(data, dict):
        raise UserError(f"{where}: a play must be a mapping")
    unknown = [k for k in data if k not in PLAY_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown play keyword {unknown[0]!r}")
    if "hosts" not in data:
        raise UserError(f"{where}: play {data.get('name', '')!r} has no hosts:")
    hosts = data["hosts"]
    hosts = ",".join(map(str, hosts)) if isinstance(hosts, list) else str(hosts)
    play = Play(hosts=hosts, file=file, line=line, name=str(data.get("name") or hosts))
    play.serial = parse_serial(data.get("serial"), where)
    play.max_fail_percentage = parse_max_fail(data.get("max_fail_percentage"), where)  # type: ignore[assignment]
    for key in ("any_errors_fatal", "gather_facts", "become"):
        if key in data:
            setattr(play, key, _as_bool(data[key], where, key))
    play_vars = data.get("vars") or {}
    if not isinstance(play_vars, dict):
        raise UserError(f"{where}: vars must be a mapping")
    play.vars = dict(play_vars)
    for vars_file in _as_list(data.get("vars_files")):
        vpath = (base_dir / str(vars_file))
        loaded = load_yaml(vpath) or {}
        if not isinstance(loaded, dict):
            raise UserError(f"{vpath}:1: vars file must be a mapping")
        play.vars.update(loaded)
    play.tags = {str(t) for t in _as_list(data.get("tags"))}
    for section in ("pre_tasks", "tasks", "post_tasks"):
        items = data.get(section) or []
        if not isinstance(items, list):
            raise UserError(f"{where}: {section} must be a list")
        play.tasks.extend(parse_item(t, file) for t in items)
    handlers = data.get("handlers") or []
    if not isinstance(handlers, list):
        raise UserError(f"{where}: handlers must be a list")
    play.handlers = [parse_task(h, file, handler=True) for h in handlers]
    _check_notify(play)
    return play


def _check_notify(play: Play) -> None:
    names = {h.name for h in play.handlers} | {n for h in play.handlers for n in h.listen}
    for task in iter_tasks(play.tasks + play.handlers):
        for name in task.notify:
            if name not in names and not templating.is_template(name):
                raise UserError(f"{task.where}: notify {name!r}: no handler of that name in this play")


def load_playbook(path: str | Path, _importing: tuple[Path, ...] = ()) -> Playbook:
    """Parse and validate a playbook file; raise UserError at the first problem found.

    `- import_playbook: NAME` puts the plays of NAME (a playbook in the same folder) there.
    """
    path = Path(path)
    data = load_yaml(path)
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}:1: a playbook is a list of plays")
    plays: list[Play] = []
    for entry in data:
        if isinstance(entry, dict) and "import_playbook" in entry:
            plays.extend(_imported(entry, path, (*_importing, path.resolve())))
        else:
            plays.append(parse_play(entry, str(path), path.parent))
    check_templates(Playbook(path, plays))
    return Playbook(path, plays)


def _imported(entry: dict, path: Path, importing: tuple[Path, ...]) -> list[Play]:
    where = f"{path}:{getattr(entry, 'line', 0)}"
    other = [k for k in entry if k not in ("import_playbook", "name")]
    if other:
        raise UserError(f"{where}: import_playbook takes no {other[0]!r} here")
    name = str(entry["import_playbook"])
    target = path.parent / name
    if Path(name).name != name:
        raise UserError(f"{where}: import_playbook {name!r}: only a playbook in the same folder is supported")
    if target.resolve() in importing:
        raise UserError(f"{where}: import_playbook {name!r} imports itself")
    if not target.is_file():
        raise UserError(f"{where}: import_playbook {name!r}: no such playbook")
    return load_playbook(target, importing).plays


# --- template checks -------------------------------------------------------------------------


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _task_sources(task: Task):
    """(source, is_expression) for every Jinja text a task carries. Not its name: ansible-core
    renders a name only to show it, and a name that cannot render never stops a run."""
    for text in _strings(task.args):
        yield text, False
    for text in _strings([task.loop, task.vars, task.environment, task.notify, task.timeout]):
        yield text, False
    for cond in (task.when or []) + (task.changed_when or []) + (task.failed_when or []) + (task.until or []):
        if isinstance(cond, str):
            single = templating._SINGLE_EXPR.match(cond.strip())
            yield (single.group("expr") if single else cond), True
    if task.module == "assert":
        for cond in _as_list(task.args.get("that")):
            if isinstance(cond, str):
                yield cond, True


def check_templates(book: Playbook) -> None:
    """Every Jinja string in every task parses; template files named literally parse too."""
    env = templating.make_env()
    for play in book.plays:
        for text in _strings(play.vars):
            _syntax(env, text, False, f"{play.file}:{play.line}")
        for task in iter_tasks(play.tasks + play.handlers):
            for text, is_expr in _task_sources(task):
                if is_expr or templating.is_template(text):
                    _syntax(env, text, is_expr, task.where)
            src = task.args.get("src")
            if task.module == "template" and isinstance(src, str) and not templating.is_template(src):
                tpath = resolve_local(book.directory, src, "templates")
                if not tpath.is_file():
                    raise UserError(f"{task.where}: template {src!r} not found (looked in {tpath.parent})")
                err = templating.syntax_error(env, tpath.read_text())
                if err:
                    raise UserError(f"{tpath}: template syntax error: {err} (used at {task.where})")
            if task.module == "copy" and isinstance(src, str) and not templating.is_template(src):
                cpath = resolve_local(book.directory, src, "files")
                if not cpath.exists():
                    raise UserError(f"{task.where}: copy src {src!r} not found (looked in {cpath.parent})")


def _syntax(env, text: str, is_expr: bool, where: str) -> None:
    err = templating.syntax_error(env, text, expression=is_expr)
    if err:
        raise UserError(f"{where}: Jinja error in {text!r}: {err}")


def resolve_local(base: Path, src: str, subdir: str) -> Path:
    """A workstation file named by a task: absolute, or next to the playbook (templates/ or files/)."""
    path = Path(src)
    if path.is_absolute():
        return path
    for candidate in (base / subdir / path, base / path):
        if candidate.exists():
            return candidate
    return base / subdir / path


MAGIC_VARS = {
    "inventory_hostname", "inventory_hostname_short", "groups", "group_names", "hostvars",
    "play_hosts", "ansible_play_hosts", "ansible_play_batch", "ansible_play_hosts_all",
    "ansible_check_mode", "ansible_diff_mode", "ansible_facts", "jetson", "playbook_dir",
    "ansible_host", "ansible_port", "ansible_user", "omit", "ansible_loop", "ansible_version",
    "lookup", "query", "q", "range", "dict", "lipsum", "cycler", "joiner", "namespace",
    "ansible_hostname", "ansible_os_family", "ansible_distribution", "ansible_architecture",
    "ansible_failed_hosts",
}


def _names(env: Any, text: str, where: str, shown: str, *, expression: bool = False) -> set[str]:
    """The names `text` reads; a filter or test Jinja doesn't know is bad input, named here."""
    try:
        return templating.referenced_names(env, text, expression=expression)
    except jinja2.TemplateAssertionError as exc:
        raise UserError(f"{where}: {exc.message} in {shown}") from None


def check_names(book: Playbook, defined_for_all_hosts: set[str]) -> None:
    """A name no layer can define (inventory, play vars, -e, register, set_fact, loop) is an error.

    Names defined only at run time are collected from the playbook itself, so a typo in a
    variable name stops the run before any host is touched, naming file and line.
    """
    env = templating.make_env()
    for play in book.plays:
        known = set(defined_for_all_hosts) | set(play.vars) | MAGIC_VARS
        for task in iter_tasks(play.tasks + play.handlers):
            if task.register:
                known.add(task.register)
            if task.module == "set_fact":
                known |= {k for k in task.args if k != "cacheable"}
            known.add(task.loop_var)
            known |= set(task.vars)
        names_by_where: list[tuple[str, str, str]] = []
        for text in _strings(play.vars):
            if templating.is_template(text):
                where = f"{play.file}:{play.line}"
                names_by_where += [(n, text, where) for n in _names(env, text, where, repr(text))]
        for task in iter_tasks(play.tasks + play.handlers):
            for text, is_expr in _task_sources(task):
                if is_expr or templating.is_template(text):
                    names_by_where += [(n, text, task.where)
                                       for n in _names(env, text, task.where, repr(text), expression=is_expr)]
            src = task.args.get("src")
            if task.module == "template" and isinstance(src, str) and not templating.is_template(src):
                tpath = resolve_local(book.directory, src, "templates")
                names_by_where += [(n, f"template {src}", task.where)
                                   for n in _names(env, tpath.read_text(), task.where, f"template {src}")]
        for name, text, where in names_by_where:
            if name not in known and name not in env.globals:
                shown = text if text.startswith("template ") else repr(text)
                raise UserError(f"{where}: undefined variable {name!r} in {shown}")
