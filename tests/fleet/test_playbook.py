"""Loading playbooks: Ansible's shape is accepted; every mistake is one error naming file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from y7deploy.errors import UserError
from y7deploy.fleet.playbook import check_names, load_playbook

PLAYBOOKS = Path(__file__).parent / "playbooks"


def write(tmp_path: Path, text: str, name: str = "site.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(UserError) as info:
        book = load_playbook(write(tmp_path, text))
        check_names(book, {"known_var"})
    return str(info.value)


def test_ansible_shape_loads(tmp_path):
    path = write(tmp_path, """
        - name: deploy
          hosts: jetsons:!canary
          serial: [1, "25%", "100%"]
          max_fail_percentage: 20
          gather_facts: false
          become: true
          vars: {app: demo}
          tasks:
            - name: make dir
              ansible.builtin.file: path=/opt/{{ app }} state=directory mode=0755
            - command: echo hi
              register: out
              changed_when: false
              tags: [probe]
            - name: with loop
              debug: msg="{{ item }}"
              loop: "{{ [1, 2] }}"
              when: out.rc == 0
            - name: restart
              ansible.builtin.systemd_service: {name: x, state: restarted}
              notify: reload
          handlers:
            - name: reload
              systemd: {daemon_reload: true}
        """)
    book = load_playbook(path)
    play = book.plays[0]
    assert play.serial == [1, "25%", "100%"] and play.max_fail_percentage == 20
    assert [t.module for t in play.tasks] == ["file", "command", "debug", "systemd"]
    assert play.tasks[0].args == {"path": "/opt/{{ app }}", "state": "directory", "mode": "0755"}
    assert play.tasks[1].args == {"_raw_params": "echo hi"} and play.tasks[1].tags == {"probe"}
    assert play.tasks[0].line == 9 and play.tasks[3].notify == ["reload"]


@pytest.mark.parametrize("text, expected", [
    ("- hosts: all\n  tasks:\n    - name: x\n      copy: {dest: /x, content: a\n", "site.yml:5: malformed YAML: did not find expected ',' or '}' (while parsing a flow mapping at line 4)"),
    ("- hosts: all\n  tasks:\n    - name: x\n      frobnicate: {a: 1}\n", "site.yml:3: unknown module or task keyword 'frobnicate'"),
    ("- hosts: all\n  tasks:\n    - copy: {dest: /x, content: a, colour: red}\n", "site.yml:3: copy: unknown argument 'colour'"),
    ("- hosts: all\n  tasks:\n    - copy: {content: a}\n", "site.yml:3: copy: missing required argument 'dest'"),
    ("- hosts: all\n  tasks:\n    - debug: msg=\"{{ x | }}\"\n", "site.yml:3: Jinja error"),
    ("- hosts: all\n  tasks:\n    - debug: {msg: ok}\n      when: \"x ==\"\n", "site.yml:3: Jinja error"),
    ("- hosts: all\n  tasks:\n    - debug: msg=\"{{ not_defined_anywhere }}\"\n", "site.yml:3: undefined variable 'not_defined_anywhere'"),
    ("- hosts: all\n  tasks:\n\n    - debug: {msg: a}\n      notify: nobody\n", "site.yml:4: notify 'nobody'"),
    ("- hosts: all\n  serial: lots\n  tasks: []\n", "site.yml:1: serial must be"),
    ("- hosts: all\n  colour: red\n", "site.yml:1: unknown play keyword 'colour'"),
    ("- name: no hosts\n  tasks: []\n", "site.yml:1: play 'no hosts' has no hosts"),
    ("- hosts: all\n  tasks:\n    - template: {src: missing.j2, dest: /x}\n", "site.yml:3: template 'missing.j2' not found"),
])
def test_bad_input_names_file_and_line(tmp_path, text, expected):
    message = load_error(tmp_path, text)
    assert expected in message
    assert "\n" not in message


def test_guarded_names_are_not_undefined(tmp_path):
    path = write(tmp_path, """
        - hosts: all
          tasks:
            - debug: msg="{{ maybe | default('x') }} {{ known_var }}"
            - debug: {msg: hi}
              when: other is defined and other
            - set_fact: {later: 1}
            - debug: msg="{{ later }} {{ res.rc }}"
            - command: "true"
              register: res
        """)
    check_names(load_playbook(path), {"known_var"})


def test_template_file_syntax_error_names_the_template(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "bad.j2").write_text("x = {{ a \n")
    message = load_error(tmp_path, "- hosts: all\n  tasks:\n    - template: {src: bad.j2, dest: /x}\n")
    assert "bad.j2: template syntax error" in message and "site.yml:3" in message


def test_test_playbooks_load():
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        if not path.name.startswith("bad_"):
            load_playbook(path)


def test_undefined_name_in_a_template_file_is_caught_before_running(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.j2").write_text("a={{ known_var }}\nb={{ missing_in_template }}\n")
    message = load_error(tmp_path, "- hosts: all\n  tasks:\n    - template: {src: app.j2, dest: /x}\n")
    assert message.endswith("site.yml:3: undefined variable 'missing_in_template' in template app.j2")


def test_serial_and_max_fail_may_come_from_variables(tmp_path):
    from y7deploy.fleet.runner import Runner, RunOptions

    path = write(tmp_path, """
        - hosts: all
          serial: "{{ waves }}"
          max_fail_percentage: "{{ threshold }}"
          vars: {threshold: 25}
          tasks: []
        - hosts: all
          serial: 1,25%,100%
          tasks: []
        """)
    book = load_playbook(path)
    runner = Runner(book, None, RunOptions(extra_vars={"waves": "1,50%"}), None, None)
    runner._resolve_rollout_settings(book.plays[0])
    assert book.plays[0].serial == ["1", "50%"] and book.plays[0].max_fail_percentage == 25.0
    assert book.plays[1].serial == ["1", "25%", "100%"]
    runner = Runner(load_playbook(path), None, RunOptions(extra_vars={"waves": "lots"}), None, None)
    with pytest.raises(UserError, match=r"site.yml:1: serial must be"):
        runner._resolve_rollout_settings(runner.book.plays[0])


def test_an_unknown_filter_is_bad_input_naming_task_and_template(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.j2").write_text("a={{ known_var | no_such_filter }}\n")
    in_template = load_error(tmp_path, "- hosts: all\n  tasks:\n    - template: {src: app.j2, dest: /x}\n")
    assert in_template.endswith("site.yml:3: No filter named 'no_such_filter'. in template app.j2")
    in_task = load_error(tmp_path, "- hosts: all\n  tasks:\n    - debug: {msg: '{{ known_var | nope }}'}\n")
    assert in_task.endswith("site.yml:3: No filter named 'nope'. in '{{ known_var | nope }}'")
