"""Bad input that would go to devices: inventories, host and group vars, playbooks, templates, -e, --limit.

Every case runs `y7deploy play` against the shared lab with one malformed piece: the
run must stop before any connection with one line naming the file and line (or the
value), and every host's /opt/y7deploy must be byte-identical afterwards. Each bad play
aims at /opt/y7deploy/badinput, so a run that wrongly went ahead would show there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

TARGET = "/opt/y7deploy/badinput"
PLAY = f"""- hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: the change a refused run must never make
      file: {{path: {TARGET}, state: directory}}
"""
HEAD = "- hosts: all\n  gather_facts: false\n  become: true\n"


@pytest.fixture
def inventory(tmp_path: Path, lab) -> Path:
    """A directory inventory holding the lab's own hosts file, for a case to add one bad piece to."""
    inv = tmp_path / "inventory"
    inv.mkdir()
    shutil.copyfile(lab.inventory_path, inv / "hosts.yml")
    return inv


@pytest.fixture
def refused_on_devices(y7, refused, snapshot, fleet_baseline):
    """Runs the CLI, checks the one-line refusal, and that no lab host changed under /opt/y7deploy."""

    def check(*args: str, needles: tuple[str, ...] | list[str]) -> str:
        line = refused(y7(*args), *needles)
        assert snapshot() == fleet_baseline
        return line

    return check


# --------------------------------------------------------------------------- inventories

INVENTORY_FILES = {
    "yaml-syntax-error": ("bad.yml", "all:\n  hosts:\n    extra: {ansible_host: 198.18.0.9\n", ["bad.yml:4"]),
    "yaml-hosts-as-a-list": ("bad.yml", "all:\n  hosts:\n    - extra1\n    - extra2\n", ["bad.yml", "'hosts'", "list"]),
    "yaml-unknown-group-key": ("bad.yml", "jetsons:\n  hostz:\n    extra:\n", ["bad.yml", "'hostz'"]),
    "yaml-vars-as-a-list": ("bad.yml", "all:\n  vars: [a, b]\n", ["bad.yml", "'vars'", "list"]),
    "ini-unclosed-section": ("bad.ini", "[extra\nextra1\n", ["bad.ini:1", "'[extra'"]),
    "ini-host-var-without-value": ("bad.ini", "[extra]\nextra1 ansible_port\n", ["bad.ini:2", "'ansible_port'"]),
    "ini-group-is-its-own-child": ("bad.ini", "[extra:children]\nextra\n", ["bad.ini:2", "'extra'"]),
    "ini-group-vars-not-key-value": ("bad.ini", "[extra:vars]\nextra1\n", ["bad.ini:2", "'extra1'"]),
    "ini-range-neither-numbers-nor-letter": ("bad.ini", "[extra]\nextra[a:1]\n", ["bad.ini:2", "[a:1]"]),
    "ini-unknown-section-type": ("bad.ini", "[extra:bogus]\nextra1\n", ["bad.ini:1", "'bogus'"]),
}


@pytest.mark.parametrize("name, text, needles", INVENTORY_FILES.values(), ids=INVENTORY_FILES.keys())
def test_a_malformed_inventory_file_is_refused_before_any_host_is_touched(tmp_path, inventory, refused_on_devices,
                                                                          name, text, needles):
    (inventory / name).write_text(text)
    (tmp_path / "site.yml").write_text(PLAY)
    refused_on_devices("play", "site.yml", "-i", "inventory", needles=needles)


def test_a_missing_inventory_is_refused(tmp_path, refused_on_devices):
    (tmp_path / "site.yml").write_text(PLAY)
    refused_on_devices("play", "site.yml", "-i", "nowhere.yml", needles=["nowhere.yml"])


# --------------------------------------------------------------------------- host and group vars

VARS_FILES = {
    "group-vars-syntax-error": ("group_vars/all.yml", "y7_fps_floor: [\n", ["group_vars/all.yml:2"]),
    "group-vars-a-list": ("group_vars/all.yml", "- a\n- b\n", ["group_vars/all.yml", "mapping"]),
    "host-vars-a-list": ("host_vars/jetson01.yml", "- 1\n", ["host_vars/jetson01.yml", "mapping"]),
    "host-vars-in-a-directory-syntax-error": ("host_vars/jetson02/main.yml", "a: {b: 1\n",
                                              ["host_vars/jetson02/main.yml"]),
    "host-port-not-a-number": ("host_vars/jetson03.yml", "ansible_port: [22, 2222]\n", ["jetson03", "port"]),
}


@pytest.mark.parametrize("name, text, needles", VARS_FILES.values(), ids=VARS_FILES.keys())
def test_malformed_host_or_group_vars_are_refused(tmp_path, inventory, refused_on_devices, name, text, needles):
    (inventory / name).parent.mkdir(parents=True, exist_ok=True)
    (inventory / name).write_text(text)
    (tmp_path / "site.yml").write_text(PLAY)
    refused_on_devices("play", "site.yml", "-i", "inventory", needles=needles)


# --------------------------------------------------------------------------- playbooks

PLAYBOOKS = {
    "yaml-syntax-error": (f"- hosts: all\n  tasks:\n    - file: {{path: {TARGET}\n", ["site.yml:4"]),
    "not-a-list-of-plays": ("hosts: all\ntasks: []\n", ["site.yml:1", "list of plays"]),
    "empty-file": ("", ["site.yml"]),
    "play-without-hosts": (f"- gather_facts: false\n  tasks:\n    - file: {{path: {TARGET}, state: directory}}\n",
                           ["site.yml:1", "hosts"]),
    "unknown-play-keyword": (HEAD + "  hostz: all\n  tasks: []\n", ["site.yml:1", "'hostz'"]),
    "unknown-module": (HEAD + f"  tasks:\n    - flie: {{path: {TARGET}}}\n", ["site.yml:5", "'flie'"]),
    "two-modules-in-a-task": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}}}\n      command: rm -rf {TARGET}\n",
                              ["site.yml:5", "file", "command"]),
    "task-without-module": (HEAD + "  tasks:\n    - name: forgot the module\n", ["site.yml:5", "no module"]),
    "unknown-module-argument": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}, mdoe: '0755'}}\n",
                                ["site.yml:5", "'mdoe'"]),
    "tasks-not-a-list": (HEAD + "  tasks: 5\n", ["site.yml:1", "tasks"]),
    "block-not-a-list": (HEAD + "  tasks:\n    - block: 5\n", ["site.yml:5", "block"]),
    "notify-unknown-handler": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}, state: directory}}\n"
                                      "      notify: restart the app\n", ["site.yml:5", "'restart the app'"]),
    "serial-not-a-number": (HEAD + f"  serial: some\n  tasks:\n    - file: {{path: {TARGET}, state: directory}}\n",
                            ["site.yml:1", "serial", "'some'"]),
    "when-bad-jinja": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}, state: directory}}\n      when: 'x =='\n",
                       ["site.yml:5", "'x =='"]),
    "argument-bad-jinja": (HEAD + "  tasks:\n    - command: \"touch {{ unclosed\"\n", ["site.yml:5", "unclosed"]),
    "register-not-a-name": (HEAD + "  tasks:\n    - command: 'true'\n      register: 'the result'\n",
                            ["site.yml:5", "'the result'"]),
    "task-timeout-not-seconds": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}, state: directory}}\n"
                                        "      timeout: soon\n", ["site.yml:5", "timeout", "'soon'"]),
    "hosts-pattern-matches-nothing": (f"- hosts: jetsonz\n  gather_facts: false\n  tasks:\n"
                                      f"    - file: {{path: {TARGET}, state: directory}}\n", ["site.yml:1", "'jetsonz'"]),
    "copy-src-missing": (HEAD + f"  tasks:\n    - copy: {{src: model.onnx, dest: {TARGET}/model.onnx}}\n",
                         ["site.yml:5", "'model.onnx'"]),
    "vars-file-missing": (HEAD + f"  vars_files: [fleet-vars.yml]\n  tasks:\n"
                                 f"    - file: {{path: {TARGET}, state: directory}}\n", ["fleet-vars.yml"]),
    # argument values the module's spec refuses, found at load as ansible-core's argument spec would on the host
    "file-state-not-a-choice": (HEAD + f"  tasks:\n    - name: make the folder\n      file: {{path: {TARGET}, state: bogus}}\n",
                                ["site.yml:5", "'make the folder'", "state", "'bogus'", "directory"]),
    "copy-mode-not-a-mode": (HEAD + f"  tasks:\n    - copy: {{content: x, dest: {TARGET}/x, mode: 99z}}\n",
                             ["site.yml:5", "mode", "'99z'"]),
    "loop-not-a-list": (HEAD + f"  tasks:\n    - file: {{path: '{TARGET}/{{{{ item }}}}', state: directory}}\n"
                               "      loop: 5\n", ["site.yml:5", "loop", "5"]),
    "boolean-argument-not-a-boolean": (HEAD + f"  tasks:\n    - copy: {{content: x, dest: {TARGET}/x, force: maybe}}\n",
                                       ["site.yml:5", "force", "'maybe'", "boolean"]),
    "number-argument-not-a-number": (HEAD + "  tasks:\n    - wait_for: {port: ssh, timeout: 1}\n",
                                     ["site.yml:5", "port", "'ssh'"]),
    "systemd-state-not-a-choice": (HEAD + "  tasks:\n    - systemd: {name: y7deploy-app, state: reborn}\n",
                                   ["site.yml:5", "state", "'reborn'", "restarted"]),
    "apt-state-not-a-choice": (HEAD + "  tasks:\n    - apt: {name: htop, state: installed}\n",
                               ["site.yml:5", "state", "'installed'", "present"]),
    "link-without-src": (HEAD + f"  tasks:\n    - file: {{path: {TARGET}, state: link}}\n",
                         ["site.yml:5", "state=link", "src"]),
    "command-without-a-command": (HEAD + f"  tasks:\n    - command: {{chdir: {TARGET}}}\n",
                                  ["site.yml:5", "command", "cmd"]),
    "template-newline-not-a-choice": (HEAD + f"  tasks:\n    - template: {{src: app.j2, dest: {TARGET}/app, "
                                             "newline_sequence: CRLF}\n", ["site.yml:5", "newline_sequence", "'CRLF'"]),
    "argument-a-mapping-not-a-string": (HEAD + "  tasks:\n    - file: {path: {at: /opt/y7deploy/badinput}, state: directory}\n",
                                        ["site.yml:5", "path", "mapping"]),
}


@pytest.mark.parametrize("text, needles", PLAYBOOKS.values(), ids=PLAYBOOKS.keys())
def test_a_malformed_playbook_is_refused_before_any_host_is_touched(tmp_path, lab, refused_on_devices, text, needles):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.j2").write_text("fine\n")
    (tmp_path / "site.yml").write_text(text)
    refused_on_devices("play", "site.yml", "-i", str(lab.inventory_path), needles=needles)


def test_a_templated_argument_value_is_checked_when_it_is_known_and_fails_the_host_untouched(
        tmp_path, lab, y7, snapshot, fleet_baseline):
    """`state: "{{ wanted }}"` can only be checked at run time: the host fails with the spec's
    message before its module runs, and nothing on any device changes."""
    (tmp_path / "site.yml").write_text(HEAD + "  vars: {wanted: bogus}\n  tasks:\n"
                                       f"    - file: {{path: {TARGET}, state: '{{{{ wanted }}}}'}}\n")
    proc = y7("play", "site.yml", "-i", str(lab.inventory_path))
    assert proc.returncode not in (0, 2), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.count("argument 'state': 'bogus' must be one of") == len(lab.hosts), proc.stdout
    assert snapshot() == fleet_baseline


# --------------------------------------------------------------------------- templates

TEMPLATES = {
    "syntax-error": ("{% if y7_batch %}\nbatch-size={{ y7_batch }}\n", ["app.j2", "syntax"]),
    "undefined-variable": ("[property]\nnum-detected-classes={{ y7_num_classes }}\n", ["app.j2", "'y7_num_classes'",
                                                                                       "site.yml:5"]),
    "unknown-filter": ("[property]\nbatch-size={{ inventory_hostname | frobnicate }}\n",
                       ["site.yml:5", "'frobnicate'", "template app.j2"]),
}


@pytest.mark.parametrize("text, needles", TEMPLATES.values(), ids=TEMPLATES.keys())
def test_a_broken_template_is_refused_before_any_host_is_touched(tmp_path, lab, refused_on_devices, text, needles):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.j2").write_text(text)
    (tmp_path / "site.yml").write_text(HEAD + f"  tasks:\n    - template: {{src: app.j2, dest: {TARGET}/app.txt}}\n")
    refused_on_devices("play", "site.yml", "-i", str(lab.inventory_path), needles=needles)


def test_a_missing_template_is_refused(tmp_path, lab, refused_on_devices):
    (tmp_path / "site.yml").write_text(HEAD + f"  tasks:\n    - template: {{src: gone.j2, dest: {TARGET}/app.txt}}\n")
    refused_on_devices("play", "site.yml", "-i", str(lab.inventory_path), needles=["site.yml:5", "'gone.j2'"])


# --------------------------------------------------------------------------- -e and --limit

OPTIONS = {
    "extra-vars-file-missing": (["-e", "@nothere.yml"], ["nothere.yml"]),
    "extra-vars-bad-json": (["-e", '{"y7_batch": '], ["-e", "JSON"]),
    "extra-vars-not-key-value": (["-e", "y7_batch"], ["'y7_batch'", "key=value"]),
    "extra-vars-file-a-list": (["-e", "@list.yml"], ["list.yml", "mapping"]),
    "limit-matches-nothing": (["--limit", "jetson99"], ["'jetson99'"]),
    "limit-bad-regex": (["--limit", "~jetson[0-"], ["'~jetson[0-'"]),
}


@pytest.mark.parametrize("options, needles", OPTIONS.values(), ids=OPTIONS.keys())
def test_a_bad_play_option_is_refused(tmp_path, lab, refused_on_devices, options, needles):
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    (tmp_path / "site.yml").write_text(PLAY)
    refused_on_devices("play", "site.yml", "-i", str(lab.inventory_path), *options, needles=needles)


# --------------------------------------------------------------------------- the control

def test_the_snapshot_sees_a_change_that_a_valid_play_makes(tmp_path, lab, y7, snapshot):
    """Without this the byte-identical checks above could pass on a blind snapshot."""
    watched = ("/tmp/y7-badinput-control",)
    (tmp_path / "site.yml").write_text(HEAD + "  tasks:\n"
                                       "    - file: {path: /tmp/y7-badinput-control, state: directory}\n"
                                       "    - copy: {content: 'changed', dest: /tmp/y7-badinput-control/file}\n"
                                       "    - file: {path: /tmp/y7-badinput-control, state: absent}\n"
                                       "      tags: [cleanup]\n")
    before = snapshot(watched)
    try:
        proc = y7("play", "site.yml", "-i", str(lab.inventory_path), "--skip-tags", "cleanup")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        after = snapshot(watched)
        assert all(after[h] != before[h] and "/tmp/y7-badinput-control/file" in after[h] for h in after)
    finally:
        y7("play", "site.yml", "-i", str(lab.inventory_path), "--tags", "cleanup")
