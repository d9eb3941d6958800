"""Wave batching and the abort threshold, with ansible-core's own batching as the oracle."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from y7deploy.fleet import waves


def ansible_batches(hosts: list[str], serial: list) -> list[list[str]]:
    """Ask ansible-core's PlaybookExecutor how it would cut these hosts into batches."""
    from ansible.executor.playbook_executor import PlaybookExecutor

    fake_self = SimpleNamespace(_inventory=SimpleNamespace(get_hosts=lambda pattern, order=None: list(hosts)))
    play = SimpleNamespace(serial=serial, hosts="all", order=None)
    return PlaybookExecutor._get_serialized_batches(fake_self, play)


CASES = [
    [], [1], [3], ["30%"], ["1%"], ["50%"], ["100%"], [0], [1, 2], [1, "25%", "100%"],
    [1, 3, 5], ["10%", "40%"], [2, "0"], ["33%"], [20],
]


@pytest.mark.parametrize("serial", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("count", [1, 4, 10, 13])
def test_batches_match_ansible(serial, count):
    hosts = [f"h{i:02d}" for i in range(count)]
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
