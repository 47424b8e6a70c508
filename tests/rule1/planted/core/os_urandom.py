"""Planted rule-1 violation: draws OS randomness."""

import os


def token() -> bytes:
    return os.urandom(8)
