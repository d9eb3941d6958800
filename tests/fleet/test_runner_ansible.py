"""ansible-core as the oracle: the same playbook run by ansible-playbook and by y7deploy on the
lab must give the same PLAY RECAP and reach the same hosts (waves, aborts, handlers, loops)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import fleet_kit as kit


pytestmark = [pytest.mark.lab, pytest.mark.slow]


SCENARIOS = {
    "max-fail-exceeded": ("2", "max_fail_percentage: 49", ["jetson01"]),
    "max-fail-equal": ("2", "max_fail_percentage: 50", ["jetson01"]),
    "wave-list-all-failed": ('["25%", 3]', "", ["jetson01"]),
    "later-wave-fails": ("[1, 3]", "max_fail_percentage: 30", ["jetson03"]),
    "no-failures": ('"50%"', "", []),
    "any-errors-fatal": ("0", "any_errors_fatal: true", ["jetson02"]),
}


def reached(fleet) -> dict[str, tuple[bool, bool]]:
    return {h: (fleet.exists(h, "/tmp/y7t"), fleet.exists(h, "/tmp/y7t/handler")) for h in fleet.hosts}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_recap_and_same_hosts_reached_as_ansible(lab, tmp_path, scenario):
    serial, extra, failing = SCENARIOS[scenario]
    book = kit.wave_book(tmp_path, serial, extra)
    oracle, ours = kit.both_tools(lab, tmp_path, book, json.dumps({"fail_hosts": failing}), reached)
    # ansible-playbook exits 2 for failed hosts; ours says 3, or 4 when the rollout stopped early
    assert (ours.exit_code == 0) == (oracle.exit_code == 0)


BENCH_BOOK = Path(__file__).resolve().parents[2] / "bench" / "deploy" / "deploy.yml"
BENCH_RESET = ("systemctl stop y7bench-app.service 2>/dev/null; "
               "rm -rf /opt/y7bench /etc/systemd/system/y7bench-app.service; systemctl daemon-reload")


def test_what_one_tool_deployed_the_other_sees_as_done(lab, tmp_path):
    """Same playbook file for both; each tool's result is a no-change run for the other."""
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20))
    extra = f"blob={blob}"
    fleet = kit.Fleet(lab, tmp_path)
    reset = lambda: [lab.root(h, BENCH_RESET) for h in fleet.hosts]  # noqa: E731
    try:
        reset()
        by_ansible = kit.ansible_playbook(fleet.inventory, BENCH_BOOK, extra)
        assert by_ansible.exit_code == 0, by_ansible.output + by_ansible.stderr
        ours = fleet.play(str(BENCH_BOOK), "-e", extra)
        assert ours.exit_code == 0 and all(c["changed"] == 0 for c in ours.recap().values()), ours.output
        reset()
        ours = fleet.play(str(BENCH_BOOK), "-e", extra)
        assert all(c["changed"] == 6 for c in ours.recap().values()), ours.output  # 5 tasks + handler
        by_ansible = kit.ansible_playbook(fleet.inventory, BENCH_BOOK, extra)
        assert by_ansible.exit_code == 0
        assert all(c["changed"] == 0 for c in by_ansible.recap().values()), by_ansible.output
    finally:
        reset()


BLOCK_BOOK = """
- name: blocks
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: /tmp/y7t, state: directory}
    - name: switch with a way back
      when: inventory_hostname != 'jetson04'
      block:
        - name: activate
          ansible.builtin.file: {path: /tmp/y7t/active, state: touch}
        - name: verify
          ansible.builtin.command: "false"
          when: inventory_hostname in fail_hosts
        - name: verified
          ansible.builtin.file: {path: /tmp/y7t/verified, state: touch}
      rescue:
        - name: roll back
          ansible.builtin.file: {path: /tmp/y7t/rolled-back, state: touch}
        - name: rollback fails too
          ansible.builtin.command: "false"
          when: inventory_hostname == 'jetson02'
      always:
        - name: record
          ansible.builtin.file: {path: /tmp/y7t/recorded, state: touch}
    - name: after the block
      ansible.builtin.file: {path: /tmp/y7t/after, state: touch}
"""


def test_block_rescue_always_like_ansible(lab, tmp_path):
    book = tmp_path / "blocks.yml"
    book.write_text(BLOCK_BOOK)
    marks = ("active", "verified", "rolled-back", "recorded", "after")
    look = lambda f: {h: tuple(f.exists(h, f"/tmp/y7t/{m}") for m in marks) for h in f.hosts}  # noqa: E731
    oracle, _ = kit.both_tools(lab, tmp_path, book, json.dumps({"fail_hosts": ["jetson01", "jetson02"]}), look)
    assert oracle.recap()["jetson01"]["rescued"] == 1 and oracle.recap()["jetson02"]["failed"] == 1


BATCH_BOOK = """
- name: canary first
  hosts: "jetson03,all"
  gather_facts: false
  serial: "50%"
  tasks:
    - ansible.builtin.file: {path: /tmp/y7t, state: directory}
    - ansible.builtin.command: "false"
      when: inventory_hostname == 'jetson01'
    - ansible.builtin.copy:
        dest: /tmp/y7t/batch
        content: "{{ ansible_play_batch | join(',') }} {{ ansible_play_hosts | join(',') }} {{ play_hosts | join(',') }}"
"""


def test_waves_keep_the_pattern_order_and_play_batch_is_the_wave(lab, tmp_path):
    """`canary,all` puts the canary in the first wave; ansible_play_batch is that wave's hosts
    still standing, ansible_play_hosts the play's, as ansible-playbook has them."""
    book = tmp_path / "batch.yml"
    book.write_text(BATCH_BOOK)
    seen = lambda f: {h: f.root(h, "cat /tmp/y7t/batch 2>/dev/null") for h in f.hosts}  # noqa: E731
    oracle, ours = kit.both_tools(lab, tmp_path, book, "{}", seen)
    assert oracle.recap()["jetson01"]["failed"] == 1
    with kit.session(lab, tmp_path) as fleet:
        run = fleet.play(str(book), "--json")
        waves = [list(t["hosts"]) for t in run.json["plays"][0]["tasks"] if t["name"].startswith("file")]
        groups = yaml.safe_load(Path(lab.inventory_path).read_text())["all"]["children"].values()
        in_inventory_order = [name for group in groups for name in group["hosts"]]
        rest = [h for h in in_inventory_order if h not in ("jetson01", "jetson03")]
        assert waves[:2] == [["jetson03", "jetson01"], rest[:2]]  # serial 50%: two hosts a wave
        assert sum(waves, []) == ["jetson03", "jetson01", *rest]
        assert fleet.root("jetson03", "cat /tmp/y7t/batch") == "jetson03 " + ",".join(
            ["jetson03", *rest]) + " jetson03"


TIMEOUT_BOOK = """
- name: a task with a time limit
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.file: {path: /tmp/y7t, state: directory}
    - name: slow on one host only
      ansible.builtin.command: "sleep {{ 600 if inventory_hostname == 'jetson01' else 0 }}"
      timeout: "{{ limit }}"
    - ansible.builtin.file: {path: /tmp/y7t/after, state: touch}
"""


def test_a_task_past_its_timeout_fails_that_host_and_the_others_go_on_as_with_ansible(lab, tmp_path):
    book = tmp_path / "timeout.yml"
    book.write_text(TIMEOUT_BOOK)
    look = lambda fleet: {h: fleet.exists(h, "/tmp/y7t/after") for h in fleet.hosts}  # noqa: E731
    oracle, ours = kit.both_tools(lab, tmp_path, book, json.dumps({"limit": 3}), look)
    assert ours.recap()["jetson01"]["failed"] == 1 and "within its timeout" in ours.output
