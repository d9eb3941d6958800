"""rollback's device steps: playbooks/rollback.yml imports the commit-confirmed switch
(switch.yml) that push.yml imports too, and the runner reads import_playbook as
ansible-playbook does (ansible-core lists the plays and tasks: the oracle). Each look at the
gate has the device wait for the next **PERF: line, due one interval after the last."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.deploy.activate import LOOK_S, Look, Target, next_look
from y7deploy.deploy.health import read_journal
from y7deploy.deploy.rollback import kept_as
from y7deploy.deploy.steps import playbook_path
from y7deploy.errors import UserError
from y7deploy.fleet.playbook import load_playbook

PLAY = re.compile(r"^\s+play #\d+ \([^)]*\): (.*?)\tTAGS: \[(.*)\]$")
TASK = re.compile(r"^\s{6}(\S.*?)\tTAGS: \[(.*)\]$")


def ansible_listing(book: Path) -> list[tuple[str, list[str], list[str]]]:
    """(play name, play tags, task names) as `ansible-playbook --list-tasks` prints them."""
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "--list-tasks", str(book)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plays: list[tuple[str, list[str], list[str]]] = []
    for line in proc.stdout.splitlines():
        if m := PLAY.match(line):
            plays.append((m[1], sorted(t.strip() for t in m[2].split(",") if t.strip()), []))
        elif (m := TASK.match(line)) and plays:
            plays[-1][2].append(m[1])
    return plays


def our_listing(book: Path) -> list[tuple[str, list[str], list[str]]]:
    return [(p.name, sorted(p.tags), [t.name for t in p.tasks]) for p in load_playbook(book).plays]


@pytest.mark.parametrize("name", ["rollback.yml", "switch.yml"])
def test_the_runner_reads_the_rollback_playbook_as_ansible_playbook_does(name):
    book = playbook_path(name)
    assert our_listing(book) == ansible_listing(book)


def test_rollback_and_push_run_the_same_switch_plays_from_one_file():
    switch = playbook_path("switch.yml")
    rollback = load_playbook(playbook_path("rollback.yml"))
    push = load_playbook(playbook_path("push.yml"))
    shared = [p.name for p in load_playbook(switch).plays]
    assert shared == ["activate", "gate", "commit", "revert"]
    for book in (rollback, push):
        plays = {p.name: p for p in book.plays}
        assert all(Path(plays[name].file) == switch for name in shared)
    assert {p.name for p in push.plays} >= {"probe", "stage", "status", "app", *shared}


def test_an_import_of_a_playbook_the_runner_cannot_take_is_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.yml").write_text("- hosts: all\n  tasks: []\n")
    cases = {
        "self.yml": ("- import_playbook: self.yml\n", "self.yml:1: import_playbook 'self.yml' imports itself"),
        "away.yml": ("- import_playbook: sub/other.yml\n", "away.yml:1: import_playbook 'sub/other.yml': only a "
                     "playbook in the same folder"),
        "gone.yml": ("- hosts: all\n  tasks: []\n- import_playbook: nothere.yml\n",
                     "gone.yml:3: import_playbook 'nothere.yml': no such playbook"),
        "when.yml": ("- import_playbook: gone.yml\n  when: false\n", "when.yml:1: import_playbook takes no 'when'"),
    }
    for name, (text, said) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UserError) as caught:
            load_playbook(tmp_path / name)
        assert said in str(caught.value)


def journal(*perf_times: float) -> str:
    lines = ["1733018400.000000 cam deepstream-app[7]: deserialized trt engine from :/e.engine"]
    if perf_times:
        lines.append(f"{perf_times[0]:.6f} cam deepstream-app[7]: **PERF:  FPS 0 (Avg)\t")
    lines += [f"{t:.6f} cam deepstream-app[7]: **PERF:  30.00 (30.00)\t" for t in perf_times]
    return "\n".join(lines) + "\n"


def gate(interval_s: float = 1.0, deadline_s: float = 30.0) -> Target:
    return Target(release="r", root="/opt/y7deploy", switch_doc={}, revert_doc={}, commit_doc={},
                  engine_path=None, min_fps=5.0, window_s=3.0, streams=1, perf_interval_s=interval_s,
                  gate_deadline_s=deadline_s, commit_deadline_s=120)


def look(text: str, since: float, device_now: float, target: Target) -> Look:
    return next_look(read_journal(text), text, since, device_now, target)


def test_the_next_look_waits_on_the_device_for_the_line_after_those_seen():
    since = 1733018400.0
    # Header and two lines seen, the last at +2.0 s, one a second: the next is due at +3.0 s.
    assert look(journal(since + 1.0, since + 2.0), since, since + 2.3, gate()) == Look(3, since + 3.0, LOOK_S)
    # No line yet: the first is due one interval after the restart.
    assert look(journal(), since, since + 0.4, gate()) == Look(0, since + 1.0, LOOK_S)
    # A line overdue (the stream slowed): due already, the device reads the journal until it comes.
    assert look(journal(since + 1.0), since, since + 3.0, gate()).due == since + 2.0
    # Never past the gate's deadline: 30 s after the restart, 28.5 s gone.
    assert look(journal(since + 1.0), since, since + 28.5, gate()).wait == pytest.approx(1.5)
    assert look(journal(since + 1.0), since, since + 31.0, gate()).wait == 0.0


def test_rollback_to_a_release_kept_only_in_one_config_slot_goes_to_that_slot():
    kept = ["tiny-1.0.0@cfg-1a2b3c4d5e6f", "tiny-2.0.0", "tiny-3.0.0@cfg-aaaaaaaaaaaa", "tiny-3.0.0@cfg-bbbbbbbbbbbb"]
    assert kept_as("tiny-2.0.0", kept) == "tiny-2.0.0"
    assert kept_as("tiny-1.0.0", kept) == "tiny-1.0.0@cfg-1a2b3c4d5e6f"
    # Two configs of one release kept: which one is the operator's to say (refused as not kept).
    assert kept_as("tiny-3.0.0", kept) == "tiny-3.0.0"
    assert kept_as("tiny-4.0.0", kept) == "tiny-4.0.0"
