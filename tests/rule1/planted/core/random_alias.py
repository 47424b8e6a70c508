"""Planted rule-1 violation: draws from the global generator through an alias."""

import random as r


def roll() -> int:
    return r.randint(1, 6)
