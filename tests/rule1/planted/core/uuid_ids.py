"""Planted rule-1 violation: makes IDs from OS randomness."""

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
