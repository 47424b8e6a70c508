"""Planted rule-1 violation: binds a global random function at import time."""

from random import choice


def pick(items: list[int]) -> int:
    return choice(items)
