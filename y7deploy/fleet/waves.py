"""Rolling waves: split a play's hosts into batches exactly as Ansible's `serial` does,
and decide after each task whether the rollout must stop.

Ansible's rules, kept as they are (an Ansible user's rollout behaves the same here):
- `serial` is a number, a percentage of the play's hosts (rounded down, at least 1), or a
  list of those whose last item repeats until the hosts run out; 0 or none = one batch.
- `max_fail_percentage` stops the play when, after a task, the hosts that FAILED in the
  current batch are strictly more than that share of the batch (equal does not stop;
  unreachable hosts are not counted here, as in Ansible).
- A batch in which every host failed or was unreachable stops the play in any case.
- `any_errors_fatal` stops it at the first failed or unreachable host.
"""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

T = TypeVar("T")


def serial_size(value: Any, total: int) -> int:
    """One `serial` item as a host count (Ansible's pct_to_int: '30%' of 10 -> 3, '1%' -> 1)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        pct = int(value.strip()[:-1])
        return int((pct / 100.0) * total) or 1
    return int(value)


def batches(hosts: Sequence[T], serial: list[Any] | None) -> list[list[T]]:
    """The hosts in the order they will run, cut into waves."""
    remaining = list(hosts)
    total = len(remaining)
    items = list(serial or []) or [-1]
    out: list[list[T]] = []
    index = 0
    while remaining:
        size = serial_size(items[index], total)
        if size <= 0:
            out.append(remaining)
            break
        out.append(remaining[:size])
        remaining = remaining[size:]
        index = min(index + 1, len(items) - 1)
    return out


def exceeds_max_fail(failed_in_batch: int, batch_size: int, max_fail_percentage: float | None) -> bool:
    """True when failures strictly exceed the allowed share of the batch."""
    if max_fail_percentage is None or batch_size == 0:
        return False
    return failed_in_batch / batch_size > max_fail_percentage / 100.0
