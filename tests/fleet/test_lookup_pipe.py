"""lookup('pipe', cmd) renders what ansible-core's pipe lookup gives (provision.yml's src-sha uses it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.fleet.templating import Templar

COMMANDS = [
    "echo 'x y'; echo; echo z",
    "printf 'trailing  '; echo; echo; echo",
    "echo one; echo two >&2",
]


def ansible_renders(expression: str, tmp_path: Path) -> str:
    """Ansible writes the rendered expression to a local file; that file is the oracle."""
    out = tmp_path / "ansible.txt"
    book = tmp_path / "pb.yml"
    book.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{content: {json.dumps(expression)}, dest: {json.dumps(str(out))}}}\n"
    )
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(book)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_text()


@pytest.mark.parametrize("command", COMMANDS)
def test_pipe_lookup_equals_ansible(command: str, tmp_path: Path) -> None:
    expression = "{{ lookup('pipe', " + repr(command) + ") }}"
    assert Templar().render_string(expression, {}) == ansible_renders(expression, tmp_path)


def test_a_failing_command_is_an_error_naming_it() -> None:
    with pytest.raises(Exception, match="returned 3"):
        Templar().render_string("{{ lookup('pipe', 'exit 3') }}", {})
