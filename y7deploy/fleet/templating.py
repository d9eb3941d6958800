"""Jinja2 the way an Ansible user expects it: `{{ var }}`, Ansible's common filters,
`when:` expressions, variables that refer to other variables, and an undefined
variable as an error rather than an empty string.

Templates render on the workstation only; what reaches a device is the rendered text.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import json
import os.path
import re
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml

from y7deploy.errors import UserError
from y7deploy.fleet.shell import quote


class TemplateError(UserError):
    """A template that cannot be parsed or rendered (syntax, undefined variable, bad filter)."""


# --- filters and tests Ansible users reach for --------------------------------------------


def _to_bool(value: Any) -> bool:
    """Jinja's `bool` filter as Ansible's: anything that is not a true word is False."""
    from y7deploy.fleet.convert import parse_bool

    return parse_bool(value, strict=False)


def _regex_replace(value: Any, pattern: str, replacement: str = "", ignorecase: bool = False) -> str:
    flags = re.IGNORECASE if ignorecase else 0
    return re.sub(pattern, replacement, str(value), flags=flags)


def _regex_search(value: Any, pattern: str, ignorecase: bool = False) -> str | None:
    match = re.search(pattern, str(value), flags=re.IGNORECASE if ignorecase else 0)
    return match.group(0) if match else None


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError(msg or f"mandatory variable {value._undefined_name!r} not defined")
    return value


def _ternary(value: Any, true_val: Any, false_val: Any) -> Any:
    return true_val if _to_bool(value) else false_val


def _hash(value: Any, algorithm: str = "sha1") -> str:
    return hashlib.new(algorithm, str(value).encode()).hexdigest()


def _version_test(value: Any, other: Any, op: str = "eq") -> bool:
    def key(v: Any) -> tuple:
        return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-+]", str(v)) if p != "")

    a, b = key(value), key(other)
    ops = {"eq": a == b, "==": a == b, "ne": a != b, "!=": a != b, "lt": a < b, "<": a < b,
           "le": a <= b, "<=": a <= b, "gt": a > b, ">": a > b, "ge": a >= b, ">=": a >= b}
    if op not in ops:
        raise jinja2.TemplateRuntimeError(f"version test: unknown operator {op!r}")
    return ops[op]


def _result_test(key: str, want: bool):
    def test(result: Any) -> bool:
        if not isinstance(result, Mapping):
            raise jinja2.TemplateRuntimeError("this test applies to a registered task result")
        if key == "failed":
            return bool(result.get("failed", False)) == want
        return bool(result.get(key, False)) == want
    return test


FILTERS = {
    "bool": _to_bool,
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "to_nice_json": lambda v, indent=4: json.dumps(v, indent=indent, sort_keys=True),
    "from_json": json.loads,
    "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=None),
    "to_nice_yaml": lambda v, indent=4: yaml.safe_dump(v, indent=indent, default_flow_style=False),
    "from_yaml": yaml.safe_load,
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "basename": os.path.basename,
    "dirname": os.path.dirname,
    "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
    "b64decode": lambda v: base64.b64decode(str(v)).decode(),
    "quote": quote,
    "mandatory": _mandatory,
    "ternary": _ternary,
    "hash": _hash,
    "checksum": lambda v: _hash(v, "sha1"),
    "split": lambda v, sep=None: str(v).split(sep),
}

TESTS = {
    "version": _version_test,
    "version_compare": _version_test,
    "match": lambda v, p, ignorecase=False: re.match(p, str(v), re.I if ignorecase else 0) is not None,
    "search": lambda v, p, ignorecase=False: re.search(p, str(v), re.I if ignorecase else 0) is not None,
    "regex": lambda v, p: re.search(p, str(v)) is not None,
    "failed": _result_test("failed", True),
    "failure": _result_test("failed", True),
    "succeeded": _result_test("failed", False),
    "success": _result_test("failed", False),
    "changed": _result_test("changed", True),
    "change": _result_test("changed", True),
    "skipped": _result_test("skipped", True),
    "skip": _result_test("skipped", True),
}


def _lookup(kind: str, *terms: str, **options: Any) -> Any:
    """Ansible's workstation-side lookups we support: env, file and pipe, all on the workstation."""
    values = []
    for term in terms:
        if kind == "env":
            values.append(os.environ.get(str(term), options.get("default", "")))
        elif kind == "file":
            try:
                with open(os.path.expanduser(str(term))) as fh:
                    values.append(fh.read().rstrip("\n"))
            except OSError as exc:
                raise jinja2.TemplateRuntimeError(f"lookup('file', {term!r}): {exc.strerror}") from None
        elif kind == "pipe":
            values.append(_pipe(str(term)))
        else:
            raise jinja2.TemplateRuntimeError(f"lookup {kind!r} is not supported (env, file, pipe are)")
    return ",".join(values) if not options.get("wantlist") else values


def _pipe(command: str) -> str:
    """lookup('pipe', cmd): the command's stdout, right-stripped, as ansible-core's pipe lookup."""
    proc = subprocess.run(command, shell=True, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise jinja2.TemplateRuntimeError(f"lookup('pipe', {command!r}) returned {proc.returncode}")
    return proc.stdout.rstrip()


def make_env() -> jinja2.Environment:
    """One environment per run, with ansible-core's settings: StrictUndefined, trim_blocks
    on (a block tag's own newline is dropped), lstrip_blocks off. Trailing newlines are put
    back after rendering, as ansible-core does (see Templar.render_string)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=False,
                             keep_trailing_newline=False, autoescape=False)
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    env.globals["lookup"] = _lookup
    env.globals["query"] = env.globals["q"] = lambda kind, *terms, **kw: _lookup(kind, *terms, wantlist=True, **kw)
    return env


# --- variables that are templates themselves -------------------------------------------------

_MARKERS = ("{{", "{%", "{#")


def is_template(value: Any) -> bool:
    return isinstance(value, str) and any(m in value for m in _MARKERS)


class HostVars(Mapping):
    """The variables one host sees, resolved lazily: `b: "{{ a }}/x"` renders `a` on access.

    Jinja reads this mapping directly (shared context), so only the names a template
    touches are ever rendered, and a variable that refers to itself is an error, not a hang.
    """

    def __init__(self, templar: "Templar", layers: list[Mapping[str, Any]]):
        self._templar = templar
        self._layers = layers  # lowest precedence first
        self._cache: dict[str, Any] = {}
        self._resolving: set[str] = set()

    def raw(self, key: str) -> Any:
        for layer in reversed(self._layers):
            if key in layer:
                return layer[key]
        if key in self._templar.env.globals:  # range, dict, lookup...: the shared context skips them
            return self._templar.env.globals[key]
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = self.raw(key)
        if callable(value):
            return value
        if key in self._resolving:
            raise TemplateError(f"variable {key!r} refers to itself")
        self._resolving.add(key)
        try:
            resolved = self._templar.resolve(value, self)
        finally:
            self._resolving.discard(key)
        self._cache[key] = resolved
        return resolved

    def __contains__(self, key: object) -> bool:
        return any(key in layer for layer in self._layers) or key in self._templar.env.globals

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for layer in reversed(self._layers):
            for key in layer:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def child(self, extra: Mapping[str, Any]) -> "HostVars":
        """These variables plus a few more on top (loop item, task vars)."""
        return HostVars(self._templar, [*self._layers, extra])


WhitespaceOptions = tuple[bool, bool, str]  # trim_blocks, lstrip_blocks, newline_sequence


def _trailing_newlines(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


_SINGLE_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}$", re.S)


class Templar:
    """Renders strings, nested structures and expressions against a HostVars mapping."""

    def __init__(self, env: jinja2.Environment | None = None):
        self.env = env or make_env()
        self._compiled: dict[Any, jinja2.Template] = {}
        self._overlays: dict[WhitespaceOptions, jinja2.Environment] = {}

    def _template(self, source: str, whitespace: WhitespaceOptions | None = None) -> jinja2.Template:
        key: Any = source if whitespace is None else (source, whitespace)
        tmpl = self._compiled.get(key)
        if tmpl is None:
            try:
                tmpl = self._env_for(whitespace).from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template error in {source!r}: {exc.message}") from None
            self._compiled[key] = tmpl
        return tmpl

    def _env_for(self, whitespace: WhitespaceOptions | None) -> jinja2.Environment:
        if whitespace is None:
            return self.env
        env = self._overlays.get(whitespace)
        if env is None:
            trim, lstrip, newline = whitespace
            env = self._overlays[whitespace] = self.env.overlay(trim_blocks=trim, lstrip_blocks=lstrip,
                                                                newline_sequence=newline)
        return env

    def _context_vars(self, variables: Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(variables, HostVars):
            return variables
        return collections.ChainMap(dict(variables), self.env.globals)

    def render_string(self, source: str, variables: Mapping[str, Any], *,
                      whitespace: WhitespaceOptions | None = None) -> str:
        """source rendered. whitespace: the template module's (trim_blocks, lstrip_blocks,
        newline_sequence); None is ansible-core's default (True, False, "\\n")."""
        variables = self._context_vars(variables)
        tmpl = self._template(source, whitespace)
        with _as_template_error(source):
            ctx = tmpl.new_context(variables, shared=True)  # type: ignore[arg-type]
            text = "".join(tmpl.root_render_func(ctx))
        # ansible-core's rule: the result ends in at least as many "\n" as the source does.
        missing = _trailing_newlines(source) - _trailing_newlines(text)
        if missing > 0:
            text += (whitespace[2] if whitespace else self.env.newline_sequence) * missing
        return text

    def evaluate(self, expression: str, variables: Mapping[str, Any]) -> Any:
        """The value of a bare Jinja expression (a `when:` line, `that:` item, `{{ x }}`)."""
        variables = self._context_vars(variables)
        key = "\x00expr:" + expression
        tmpl = self._compiled.get(key)
        if tmpl is None:
            try:
                tmpl = self.env.from_string("{% set __y7_result = (" + expression + ") %}")
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"bad expression {expression!r}: {exc.message}") from None
            self._compiled[key] = tmpl
        with _as_template_error(expression):
            ctx = tmpl.new_context(variables, shared=True)  # type: ignore[arg-type]
            for _ in tmpl.root_render_func(ctx):
                pass
            value = ctx.vars["__y7_result"]
        if isinstance(value, jinja2.Undefined):
            raise TemplateError(f"undefined variable in {_short(expression)}")
        return value

    def condition(self, expression: Any, variables: Mapping[str, Any]) -> bool:
        """A `when:`-style condition. Bare booleans pass through; `{{ }}` around it is tolerated."""
        if isinstance(expression, bool):
            return expression
        text = str(expression).strip()
        single = _SINGLE_EXPR.match(text)
        if single:
            text = single.group("expr")
        return _to_bool(self.evaluate(text, variables))

    def resolve(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Template every string inside value. `"{{ x }}"` alone keeps x's type (list, int...)."""
        if isinstance(value, str):
            if not is_template(value):
                return value
            single = _SINGLE_EXPR.match(value.strip()) if value.strip() == value else None
            if single:
                return self.evaluate(single.group("expr"), variables)
            return self.render_string(value, variables)
        if isinstance(value, list):
            return [self.resolve(v, variables) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v, variables) for k, v in value.items()}
        return value


@contextlib.contextmanager
def _as_template_error(source: str):
    """Any error while rendering `source` becomes one TemplateError that quotes it."""
    try:
        yield
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"undefined variable in {_short(source)}: {exc.message}") from None
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError,
            ZeroDivisionError) as exc:
        raise TemplateError(f"error in {_short(source)}: {exc}") from None


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --- checks made before anything runs --------------------------------------------------------


def syntax_error(env: jinja2.Environment, source: str, *, expression: bool = False) -> str | None:
    """The syntax error message of a template or expression, or None when it parses."""
    try:
        if expression:
            env.parse("{% set __y7_result = (" + source + ") %}")
        else:
            env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return exc.message or "syntax error"
    return None


def referenced_names(env: jinja2.Environment, source: str, *, expression: bool = False) -> set[str]:
    """Top-level variable names a template or expression reads (for the undefined-var check)."""
    text = "{% set __y7_result = (" + source + ") %}" if expression else source
    try:
        ast = env.parse(text)
    except jinja2.TemplateSyntaxError:
        return set()
    names = jinja2.meta.find_undeclared_variables(ast)
    # `x is defined` guards a name; so does `x | default(...)`: those names may be absent.
    guarded = {node.node.name for node in ast.find_all(jinja2.nodes.Test)
               if node.name in ("defined", "undefined") and isinstance(node.node, jinja2.nodes.Name)}
    guarded |= {node.node.name for node in ast.find_all(jinja2.nodes.Filter)
                if node.name in ("default", "d") and isinstance(node.node, jinja2.nodes.Name)}
    return set(names) - guarded
