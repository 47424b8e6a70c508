"""Planted rule-1 violation: imports the clock dynamically."""

import importlib


def now() -> float:
    return importlib.import_module("time").monotonic()
