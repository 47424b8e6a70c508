"""Planted rule-1 violation: imports the clock module and reads it at call time."""

import time


def now() -> float:
    return time.monotonic()
