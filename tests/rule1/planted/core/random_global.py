"""Planted rule-1 violation: draws from the hidden global generator."""

import random


def pick(items: list[int]) -> int:
    return random.choice(items)
