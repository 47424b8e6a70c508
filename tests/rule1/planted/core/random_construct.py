"""Planted rule-1 violation: makes its own generator instead of taking the caller's."""

import random


def shuffled(items: list[int]) -> list[int]:
    rng = random.Random(42)
    copy = list(items)
    rng.shuffle(copy)
    return copy
