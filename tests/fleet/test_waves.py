"""Wave batching and the abort threshold, with ansible-core's own batching as the oracle."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache

import pytest

from y7deploy.fleet import waves

# ansible-core patches sys.intern when imported, which breaks torch imported later in the
# same process: the oracle runs in a child interpreter, once for all cases.
_ORACLE = """
import json, sys
from types import SimpleNamespace
from ansible.executor.playbook_executor import PlaybookExecutor
out = []
for hosts, serial in json.load(sys.stdin):
    fake_self = SimpleNamespace(_inventory=SimpleNamespace(get_hosts=lambda pattern, order=None: list(hosts)))
    play = SimpleNamespace(serial=serial, hosts="all", order=None)
    out.append(PlaybookExecutor._get_serialized_batches(fake_self, play))
json.dump(out, sys.stdout)
"""


@lru_cache(maxsize=1)
def _oracle_answers() -> dict[str, list[list[str]]]:
    cases = [(hosts_for(count), serial) for count in COUNTS for serial in CASES]
    done = subprocess.run([sys.executable, "-c", _ORACLE], input=json.dumps(cases), capture_output=True,
                          text=True, check=True)
    return {json.dumps(case): batches for case, batches in zip(cases, json.loads(done.stdout))}


def ansible_batches(hosts: list[str], serial: list) -> list[list[str]]:
    """How ansible-core's PlaybookExecutor would cut these hosts into batches."""
    return _oracle_answers()[json.dumps((hosts, serial))]


def hosts_for(count: int) -> list[str]:
    return [f"h{i:02d}" for i in range(count)]


CASES = [
    [], [1], [3], ["30%"], ["1%"], ["50%"], ["100%"], [0], [1, 2], [1, "25%", "100%"],
    [1, 3, 5], ["10%", "40%"], [2, "0"], ["33%"], [20],
]
COUNTS = [1, 4, 10, 13]


@pytest.mark.parametrize("serial", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("count", COUNTS)
def test_batches_match_ansible(serial, count):
    hosts = hosts_for(count)
    assert waves.batches(hosts, serial) == ansible_batches(hosts, serial)


def test_last_serial_item_repeats():
    hosts = [f"h{i}" for i in range(10)]
    assert [len(b) for b in waves.batches(hosts, [1, 2])] == [1, 2, 2, 2, 2, 1]


def test_max_fail_is_strictly_greater_than():
    # 1 of 4 failed = 25%: allowed at 25, stops at 24.
    assert not waves.exceeds_max_fail(1, 4, 25)
    assert waves.exceeds_max_fail(1, 4, 24)
    assert waves.exceeds_max_fail(1, 4, 0)
    assert not waves.exceeds_max_fail(0, 4, 0)
    assert not waves.exceeds_max_fail(3, 4, None)
