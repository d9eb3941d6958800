"""A seeded train/val split that keeps every class in both parts where the counts allow.

A plain random split of a small dataset easily leaves a rare class out of val (so it
is never evaluated) or out of train (so it is never learned). We first give val one
image of each class, rarest first, never taking the last train image of any class,
then fill val in seeded random order to the asked fraction under the same rule.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence


def split_items(classes: Sequence[set[int]], val_fraction: float = 0.2, seed: int = 0
                ) -> tuple[list[int], list[int]]:
    """Split item indices into (train, val); `classes[i]` holds the classes in item i.

    Every class found in at least two items ends up in both parts; val holds
    round(n * val_fraction) items (at least one when the fraction is positive and
    there are two items or more), plus what the coverage of rare classes needs.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val fraction must be in [0, 1), got {val_fraction}")
    n = len(classes)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    want = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        want = max(want, 1)
    total = Counter(c for item in classes for c in item)
    left_in_train = Counter(total)
    val: set[int] = set()

    def may_move(i: int) -> bool:
        return i not in val and all(left_in_train[c] > 1 for c in classes[i])

    def move(i: int) -> None:
        val.add(i)
        for c in classes[i]:
            left_in_train[c] -= 1

    if want:
        for cls in sorted(total, key=lambda c: (total[c], c)):
            if total[cls] < 2 or any(cls in classes[i] for i in val):
                continue
            for i in order:
                if cls in classes[i] and may_move(i):
                    move(i)
                    break
        for i in order:
            if len(val) >= want:
                break
            if may_move(i):
                move(i)
    train = [i for i in order if i not in val]
    return sorted(train), sorted(val)


def classes_per_item(labels: Sequence) -> list[set[int]]:
    """The class set of each [n,5] label array."""
    return [{int(c) for c in lb[:, 0]} for lb in labels]
