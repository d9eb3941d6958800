"""Safety: hostile values arrive literally, secrets never show, bad input stops everything."""

from __future__ import annotations

import json
import textwrap

import pytest

import fleet_kit as kit

from y7deploy.fleet.redact import MASK, Redactor, censor, is_secret_name


HOSTILE = "; rm -rf / $(touch /tmp/pwned1) `touch /tmp/pwned2` \"dq\" 'sq' \\ $HOME\nsecond line & touch /tmp/pwned3 |"
HOSTILE_NAME = "-rf $(touch y7pwned4); `touch y7pwned5` 'x' \"y\" * ~"  # no '/': it is one file name
SECRET = "hunter2-Sup3rS3cret"
TOKEN = "tok-9f8e7d6c5b4a"


# --- pure --------------------------------------------------------------------------------------


def test_secret_names():
    for name in ("db_password", "API_TOKEN", "client_secret", "iothub_conn_str", "ansible_become_pass",
                 "signing_key", "key", "ssh_passphrase"):
        assert is_secret_name(name), name
    for name in ("ansible_ssh_private_key_file", "keyboard", "monkey", "app_name", "key_path"):
        assert not is_secret_name(name), name


def test_redactor_scrubs_values_everywhere():
    r = Redactor()
    r.add_vars({"db_password": SECRET, "app": "demo", "nested": {"api_token": TOKEN}})
    scrubbed = r.scrub({"msg": f"connecting with {SECRET}", "list": [TOKEN, "ok"],
                        "diff": {"after": f"password={SECRET}\n"}, "db_password": "other"})
    text = json.dumps(scrubbed)
    assert SECRET not in text and TOKEN not in text and "other" not in text
    assert scrubbed["list"] == [MASK, "ok"]
    assert scrubbed["db_password"] == MASK and scrubbed["msg"] == f"connecting with {MASK}"
    assert r.scrub({"msg": "the demo app"}) == {"msg": "the demo app"}  # a value that is no secret stays


def test_censor_keeps_only_status():
    assert censor({"changed": True, "stdout": SECRET, "rc": 0}) == {
        "changed": True,
        "censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}


# --- against the lab ------------------------------------------------------------------------------


@pytest.fixture
def fleet(lab, tmp_path):
    with kit.session(lab, tmp_path) as f:
        for host in f.hosts:
            lab.root(host, "rm -f /tmp/pwned*")
        yield f


@pytest.mark.lab
def test_hostile_values_arrive_literally_and_nothing_else_runs(fleet, tmp_path):
    inventory = fleet.derived_inventory(host_vars={h: {"evil": HOSTILE, "evil_name": HOSTILE_NAME}
                                                   for h in fleet.hosts})
    book = tmp_path / "hostile.yml"
    book.write_text(textwrap.dedent("""
        - hosts: all
          gather_facts: false
          vars:
            play_evil: "$(touch /tmp/pwned5); echo `id`"
          tasks:
            - file: {path: /tmp/y7t, state: directory}
            - name: content
              copy: {content: "{{ evil }}", dest: /tmp/y7t/content.txt}
            - name: a file named by a hostile value
              copy: {content: "x", dest: "/tmp/y7t/{{ evil_name }}", mode: "0600"}
            - name: a directory too
              file: {path: "/tmp/y7t/d{{ evil_name }}", state: directory}
            - name: argv
              command:
                argv: [printf, "%s", "{{ evil }}"]
              register: echoed
            - assert: {that: ["echoed.stdout == evil"]}
            - name: free-form command splits words but never runs a shell
              command: echo {{ play_evil }}
              register: words
            - assert: {that: ["words.stdout == play_evil"]}
            - name: shell with the quote filter
              shell: printf '%s' {{ evil | quote }} > /tmp/y7t/shell.txt
            - name: wait for a hostile path (absent)
              wait_for: {path: "/tmp/y7t/{{ evil_name }}x", state: absent, timeout: 2}
            - name: a hostile host name for a port probe
              wait_for: {port: 22, host: "{{ evil }}", timeout: 1}
              ignore_errors: true
        """))
    booted = {h: pid1_started(fleet, h) for h in fleet.hosts}
    run = fleet.play(str(book), inventory=inventory)
    assert run.exit_code == 0, run.output + run.stderr
    for host in fleet.hosts:
        assert fleet.root(host, "cat /tmp/y7t/content.txt") == HOSTILE
        assert fleet.root(host, "cat /tmp/y7t/shell.txt") == HOSTILE
        listing = fleet.root(host, "ls -1 /tmp/y7t").splitlines()
        assert HOSTILE_NAME in listing and "d" + HOSTILE_NAME in listing
        assert fleet.root(host, "ls /tmp/pwned* 2>/dev/null").strip() == ""
        assert fleet.root(host, "find / -xdev -name 'y7pwned*' 2>/dev/null").strip() == ""
        assert pid1_started(fleet, host) == booted[host]  # not rebooted, init not restarted


def pid1_started(fleet, host: str) -> str:
    """When the host's init started (a reboot of a container restarts it; boot_id is the kernel's)."""
    started = fleet.root(host, "ps -o lstart= -p 1").strip()
    assert started
    return started


@pytest.mark.lab
def test_secrets_never_appear_in_output_diff_or_json(fleet, tmp_path):
    inventory = fleet.derived_inventory(all_vars={"db_password": SECRET})
    book = tmp_path / "secret.yml"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "conf.j2").write_text("user=app\npassword={{ db_password }}\ntoken={{ api_token }}\n")
    book.write_text(textwrap.dedent("""
        - hosts: jetson01
          gather_facts: false
          vars:
            api_token: "{{ lookup_token }}"
          tasks:
            - file: {path: /tmp/y7t, state: directory}
            - template: {src: conf.j2, dest: /tmp/y7t/conf}
            - debug: {var: db_password}
            - debug: {msg: "token is {{ api_token }}"}
            - name: quiet
              shell: echo {{ db_password | quote }}; exit 1
              no_log: true
              ignore_errors: true
            - name: registered output is scrubbed too
              command: cat /tmp/y7t/conf
              register: conf
            - debug: {var: conf.stdout}
        """))
    for mode in ([], ["--json"]):
        fleet.clean()
        run = fleet.play(str(book), "--diff", "-e", f"lookup_token={TOKEN}", *mode, inventory=inventory)
        assert run.exit_code == 0, run.output
        everything = run.output + run.stderr
        assert SECRET not in everything and TOKEN not in everything
        assert MASK in everything
        if mode:
            assert run.json["stats"]["jetson01"]["ignored"] == 1
    assert fleet.root("jetson01", "cat /tmp/y7t/conf") == f"user=app\npassword={SECRET}\ntoken={TOKEN}\n"


BAD = {
    "malformed.yml": ("- hosts: all\n  tasks:\n    - copy: {dest: /x\n", "malformed YAML"),
    "unknown_module.yml": ("- hosts: all\n  tasks:\n    - file: {path: /tmp/y7t, state: directory}\n"
                           "    - frob: {x: 1}\n", "malformed.yml"),
    "unknown_arg.yml": ("- hosts: all\n  tasks:\n    - file: {path: /tmp/y7t, state: directory}\n"
                        "    - copy: {dest: /tmp/y7t/x, content: a, colour: red}\n", ":4: copy: unknown argument 'colour'"),
    "jinja.yml": ("- hosts: all\n  tasks:\n    - file: {path: /tmp/y7t, state: directory}\n"
                  "    - debug: {msg: \"{{ 1 + }}\"}\n", ":4: Jinja error"),
    "undefined.yml": ("- hosts: all\n  tasks:\n    - file: {path: /tmp/y7t, state: directory}\n"
                      "    - debug: {msg: \"{{ typo_var }}\"}\n", ":4: undefined variable 'typo_var'"),
}


@pytest.mark.lab
@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_exits_2_and_touches_no_host(fleet, tmp_path, name):
    text, expected = BAD[name]
    if name == "unknown_module.yml":
        expected = ":4: unknown module or task keyword 'frob'"
    book = tmp_path / name
    book.write_text(text)
    run = fleet.play(str(book))
    assert run.exit_code == 2, run.output + run.stderr
    assert expected in run.stderr and str(book) in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert not any(fleet.exists(h, "/tmp/y7t") for h in fleet.hosts)


@pytest.mark.lab
def test_unknown_host_in_limit_exits_2(fleet):
    run = fleet.play("handlers.yml", "-e", "version=1", "--limit", "jetson99")
    assert run.exit_code == 2 and "jetson99" in run.stderr
    assert not any(fleet.exists(h, "/tmp/y7t") for h in fleet.hosts)
