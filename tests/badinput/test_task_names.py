"""A task name is not input that can be bad: ansible-core renders it only to show it.

A name that mentions a variable only some runs define, or that does not even parse,
must not stop the load; the TASK line shows what ansible-core shows (the rendered
parts, and `<< error N - why >>` where a part cannot render). ansible-playbook is the
oracle: both tools run the same playbook (debug tasks only, so nothing connects) and
their TASK lines must be equal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PLAYBOOK = """- hosts: all
  gather_facts: false
  vars:
    known: hello
  tasks:
    - name: "say {{ known }}"
      debug: msg=a
    - name: "optional {{ maybe_undefined }} here"
      debug: msg=b
    - name: "two {{ a1 }} and {{ known }} {{ a2 }}"
      debug: msg=c
    - name: "defaulted {{ maybe_undefined | default('x') }} on {{ inventory_hostname }}"
      debug: msg=d
    - name: "broken {{ foo( }}"
      debug: msg=e
"""
BANNER = re.compile(r"^TASK \[(.*)\] \*+$", re.M)


def _task_lines(stdout: str) -> list[str]:
    return BANNER.findall(stdout)


def test_task_names_render_as_ansible_playbook_renders_them(tmp_path: Path) -> None:
    ansible = Path(sys.executable).with_name("ansible-playbook")
    if not ansible.exists():
        pytest.skip("ansible-playbook (the dev extra's ansible-core) is not installed")
    (tmp_path / "names.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.ini").write_text("h1 ansible_host=127.0.0.1\n")
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0", "COLUMNS": "200",
           "ANSIBLE_HOME": str(tmp_path / ".ansible")}
    oracle = subprocess.run([str(ansible), "-i", "hosts.ini", "-c", "local", "names.yml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    ours = subprocess.run([sys.executable, "-m", "y7deploy", "play", "names.yml", "-i", "hosts.ini"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)

    assert oracle.returncode == 0, oracle.stdout + oracle.stderr
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "Traceback" not in ours.stderr
    assert len(_task_lines(oracle.stdout)) == 5, oracle.stdout
    assert _task_lines(ours.stdout) == _task_lines(oracle.stdout)
    assert "optional << error 1 - 'maybe_undefined' is undefined >> here" in _task_lines(ours.stdout)
    assert "defaulted x on h1" in _task_lines(ours.stdout)
