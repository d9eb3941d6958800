import random

import pytest

from y7deploy.data.split import split_items


def _dataset(seed=1, n=200, nc=6):
    rng = random.Random(seed)
    # class k appears in roughly n / 2**k images: the last classes are rare
    return [{c for c in range(nc) if rng.random() < 0.5 ** c} for _ in range(n)]


def test_reproducible_and_partition():
    items = _dataset()
    a = split_items(items, 0.2, seed=3)
    assert a == split_items(items, 0.2, seed=3)
    assert a != split_items(items, 0.2, seed=4)
    train, val = a
    assert sorted(train + val) == list(range(len(items))) and not set(train) & set(val)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_fraction_respected(fraction):
    items = _dataset()
    _, val = split_items(items, fraction, seed=0)
    assert abs(len(val) - round(len(items) * fraction)) <= 1


def test_every_class_in_both_parts_where_possible():
    for seed in range(20):
        items = _dataset(seed=seed, n=60, nc=8)
        train, val = split_items(items, 0.1, seed=seed)
        counts = {c: sum(c in s for s in items) for c in range(8)}
        for c, count in counts.items():
            in_train = any(c in items[i] for i in train)
            in_val = any(c in items[i] for i in val)
            if count >= 2:
                assert in_train and in_val, (seed, c, count)
            elif count == 1:
                assert in_train  # a single example is worth more for learning than evaluating


def test_rare_class_pair_and_backgrounds():
    items = [set() for _ in range(20)] + [{0}, {0}] + [{1}] * 10
    train, val = split_items(items, 0.2, seed=0)
    assert sum(0 in items[i] for i in val) == 1 and sum(0 in items[i] for i in train) == 1


def test_zero_fraction_and_tiny_sets():
    assert split_items([{0}] * 5, 0.0) == ([0, 1, 2, 3, 4], [])
    assert split_items([{0}, {0}], 0.2) == ([0], [1]) or split_items([{0}, {0}], 0.2) == ([1], [0])
    assert split_items([{0}], 0.2) == ([0], [])
