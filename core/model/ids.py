"""Object identifiers as SwarmKit makes them: 25 lowercase base36 characters.

SwarmKit draws a random 128-bit number and writes it in base 36, left-padded with
zeros to 25 characters. shoal draws the bits from the ``random.Random`` its driver
hands in, so ids are reproducible from the run's seed.
"""

from __future__ import annotations

import random

ID_LENGTH = 25
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(rng: random.Random) -> str:
    """A fresh object id drawn from ``rng``."""
    return base36(rng.getrandbits(128), ID_LENGTH)


def base36(value: int, width: int) -> str:
    """``value`` in lowercase base 36, zero-padded to ``width`` characters."""
    if value < 0:
        raise ValueError("base36 takes a non-negative integer")
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def is_id(text: str) -> bool:
    """Whether ``text`` has the shape of an object id."""
    return len(text) == ID_LENGTH and all(c in _ALPHABET for c in text)
