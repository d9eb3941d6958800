"""Whitespace as ansible-core renders it: the template module's trim_blocks (default on),
lstrip_blocks (default off) and newline_sequence, and variables that hold block tags.
ansible-playbook on localhost (-c local) is the oracle; the lab test runs both tools' template
modules over SSH and compares the files they leave."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fleet_kit as kit
from y7deploy.fleet.templating import HostVars, Templar

TEMPLATE = """\
# {{ title }}
[main]
{% if enabled %}
enabled=1
{% else %}
enabled=0
{% endif %}
  {% for port in ports %}
listen={{ port }}
  {% endfor %}
{# a comment on its own line #}
tail={{ ports | length }}{% if enabled %} on{% endif %}
{% if enabled %}
last
{% endif %}

"""
VARS = {"title": "demo", "enabled": True, "ports": [80, 443]}

# (task options, the whitespace y7deploy's template module passes for them)
OPTIONS = [
    ({}, (True, False, "\n")),
    ({"trim_blocks": False}, (False, False, "\n")),
    ({"lstrip_blocks": True}, (True, True, "\n")),
    ({"trim_blocks": False, "lstrip_blocks": True}, (False, True, "\n")),
    ({"newline_sequence": "\r\n"}, (True, False, "\r\n")),
]


def ansible_local(tmp_path: Path, tasks: list[dict]) -> None:
    book = tmp_path / "pb.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "vars": VARS, "tasks": tasks}]))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(book)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_template_module_whitespace_equals_ansible(tmp_path: Path) -> None:
    src = tmp_path / "t.j2"
    src.write_text(TEMPLATE)
    tasks = [{"ansible.builtin.template": {"src": str(src), "dest": str(tmp_path / f"out{i}"), **opts}}
             for i, (opts, _) in enumerate(OPTIONS)]
    ansible_local(tmp_path, tasks)
    for i, (opts, whitespace) in enumerate(OPTIONS):
        ours = Templar().render_string(TEMPLATE, VARS, whitespace=whitespace)
        assert ours.encode() == (tmp_path / f"out{i}").read_bytes(), opts
    assert (tmp_path / "out0").read_text().startswith("# demo\n[main]\nenabled=1\n  listen=80\n  listen=443\n")


@pytest.mark.parametrize("value", [
    "{% if enabled %}\non\n{% endif %}\nend",
    "x{% if enabled %}y{% endif %}\n",
    "{% for p in ports %}\n{{ p }}\n{% endfor %}\n\n",
    "{{ title }}\n\n\n",
])
def test_a_variable_with_block_tags_renders_as_ansible_does(value: str, tmp_path: Path) -> None:
    out = tmp_path / "copied"
    ansible_local(tmp_path, [{"ansible.builtin.copy": {"content": value, "dest": str(out)}}])
    templar = Templar()
    assert templar.resolve(value, HostVars(templar, [VARS])).encode() == out.read_bytes()


LAB_BOOK = """
- hosts: all
  gather_facts: false
  vars: {title: demo, enabled: true, ports: [80, 443]}
  tasks:
    - ansible.builtin.file: {path: /tmp/y7t, state: directory}
    - ansible.builtin.template: {src: "{{ src }}", dest: /tmp/y7t/default}
    - ansible.builtin.template: {src: "{{ src }}", dest: /tmp/y7t/untrimmed, trim_blocks: false}
    - ansible.builtin.template: {src: "{{ src }}", dest: /tmp/y7t/lstripped, lstrip_blocks: true}
    - ansible.builtin.template: {src: "{{ src }}", dest: /tmp/y7t/crlf, newline_sequence: '\\r\\n'}
"""


@pytest.mark.lab
def test_template_module_on_the_lab_writes_what_ansible_writes(lab, tmp_path: Path) -> None:
    src = tmp_path / "t.j2"
    src.write_text(TEMPLATE)
    book = tmp_path / "book.yml"
    book.write_text(LAB_BOOK)

    def look(fleet: kit.Fleet) -> dict[str, str]:
        return {h: fleet.root(h, "cd /tmp/y7t && for f in default untrimmed lstripped crlf; do od -c $f; done")
                for h in fleet.hosts}

    kit.both_tools(lab, tmp_path, book, f"src={src}", look)
