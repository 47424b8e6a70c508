"""Planted rule-1 violation: binds a clock function at import time."""

from time import monotonic


def now() -> float:
    return monotonic()
