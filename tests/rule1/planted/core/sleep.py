"""Planted rule-1 violation: sleeps through an aliased clock module."""

import time as t


def pause(seconds: float) -> None:
    t.sleep(seconds)
