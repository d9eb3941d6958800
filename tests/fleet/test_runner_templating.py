"""Templating as an Ansible user expects it: lazy vars, native types, filters, conditions."""

from __future__ import annotations

import pytest

from y7deploy.fleet.templating import HostVars, Templar, TemplateError


def hv(*layers):
    t = Templar()
    return t, HostVars(t, list(layers))


def test_variables_refer_to_variables_and_keep_their_type():
    t, v = hv({"root": "/opt/app", "port": 8080}, {"conf": "{{ root }}/conf", "ports": "{{ [port, port + 1] }}"})
    assert t.resolve("{{ conf }}/x.ini", v) == "/opt/app/conf/x.ini"
    assert t.resolve("{{ ports }}", v) == [8080, 8081]
    assert t.resolve("{{ port }}", v) == 8080
    assert t.resolve({"a": ["{{ port | string }}"]}, v) == {"a": ["8080"]}


def test_higher_layers_win():
    t, v = hv({"x": 1}, {"x": 2})
    assert t.resolve("{{ x }}", v) == 2
    assert t.resolve("{{ x }}", v.child({"x": 3})) == 3


def test_undefined_and_self_reference_are_errors():
    t, v = hv({"a": "{{ a }}"})
    with pytest.raises(TemplateError, match="refers to itself"):
        t.resolve("{{ a }}", v)
    with pytest.raises(TemplateError, match="undefined"):
        t.resolve("{{ nope }}", v)
    with pytest.raises(TemplateError, match="undefined"):
        t.condition("nope.attr == 1", v)


@pytest.mark.parametrize("expr, expected", [
    ("flag", True), ("not flag", False), ("'yes' | bool", True), ("items | length > 2", True),
    ("ver is version('6.0', '>=')", True), ("ver is version('6.0', '<')", False),
    ("result is failed", False), ("result is succeeded", True), ("result is changed", True),
    ("name is match('jet.*')", True), ("missing is defined", False), ("missing | default(3) == 3", True),
    ("{{ flag }}", True), (True, True),
])
def test_conditions(expr, expected):
    t, v = hv({"flag": True, "items": [1, 2, 3], "ver": "6.1", "name": "jetson01",
               "result": {"changed": True, "failed": False}})
    assert t.condition(expr, v) is expected


def test_filters_ansible_users_reach_for():
    t, v = hv({"s": "a b;c", "d": {"k": 1}})
    assert t.resolve("{{ s | quote }}", v) == "'a b;c'"
    assert t.resolve("{{ d | to_json }}", v) == '{"k": 1}'
    assert t.resolve("{{ '/a/b.txt' | basename }}", v) == "b.txt"
    assert t.resolve("{{ 'v1.2' | regex_replace('^v', '') }}", v) == "1.2"
    assert t.resolve("{{ true | ternary('on', 'off') }}", v) == "on"
    assert t.resolve("{{ 'x' | b64encode | b64decode }}", v) == "x"


def test_lookups_env_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("Y7T_SITE", "lab-a")
    (tmp_path / "token").write_text("abc\n")
    t, v = hv({"dir": str(tmp_path)})
    assert t.resolve("{{ lookup('env', 'Y7T_SITE') }}", v) == "lab-a"
    assert t.resolve("{{ lookup('file', dir + '/token') }}", v) == "abc"
    assert t.resolve("{{ query('env', 'Y7T_SITE', 'Y7T_NOPE') }}", v) == ["lab-a", ""]
    with pytest.raises(TemplateError, match="not supported"):
        t.resolve("{{ lookup('url', 'https://example.invalid/') }}", v)
