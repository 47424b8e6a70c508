"""Planted rule-1 violation: draws OS randomness through secrets."""

import secrets


def token() -> str:
    return secrets.token_hex(8)
