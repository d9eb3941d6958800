"""ansible-core as the oracle: the same playbook run by ansible-playbook and by y7deploy on the
lab must give the same PLAY RECAP and reach the same hosts (waves, aborts, handlers, loops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def ansible_playbook(inventory: str, book: Path, extra: str) -> kit.Run:
    env = {**os.environ, "ANSIBLE_PYTHON_INTERPRETER": "auto_silent", "LC_ALL": "C.UTF-8",
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(book),
                           "-e", extra, "-f", "10"], capture_output=True, text=True, env=env)
    return kit.Run(proc.returncode, proc.stdout, proc.stderr)


def both_tools(lab, tmp_path, book: Path, extra_vars: str, look) -> tuple[kit.Run, kit.Run]:
    """Run `book` by ansible-playbook, then (hosts cleaned) by y7deploy; same recap, same hosts."""
    with kit.session(lab, tmp_path) as fleet:
        oracle = ansible_playbook(fleet.inventory, book, extra_vars)
        assert "PLAY RECAP" in oracle.output, oracle.output + oracle.stderr
        oracle_seen = look(fleet)
        fleet.clean()
        ours = fleet.play(str(book), "-e", extra_vars)
        assert ours.recap() == oracle.recap(), ours.output + "\n---- ansible:\n" + oracle.output
        assert look(fleet) == oracle_seen
    return oracle, ours


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_recap_and_same_hosts_reached_as_ansible(lab, tmp_path, scenario):
    serial, extra, failing = SCENARIOS[scenario]
    book = kit.wave_book(tmp_path, serial, extra)
    oracle, ours = both_tools(lab, tmp_path, book, json.dumps({"fail_hosts": failing}), reached)
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
        by_ansible = ansible_playbook(fleet.inventory, BENCH_BOOK, extra)
        assert by_ansible.exit_code == 0, by_ansible.output + by_ansible.stderr
        ours = fleet.play(str(BENCH_BOOK), "-e", extra)
        assert ours.exit_code == 0 and all(c["changed"] == 0 for c in ours.recap().values()), ours.output
        reset()
        ours = fleet.play(str(BENCH_BOOK), "-e", extra)
        assert all(c["changed"] == 6 for c in ours.recap().values()), ours.output  # 5 tasks + handler
        by_ansible = ansible_playbook(fleet.inventory, BENCH_BOOK, extra)
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
    oracle, _ = both_tools(lab, tmp_path, book, json.dumps({"fail_hosts": ["jetson01", "jetson02"]}), look)
    assert oracle.recap()["jetson01"]["rescued"] == 1 and oracle.recap()["jetson02"]["failed"] == 1
