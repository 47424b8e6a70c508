"""Planted clean module: what rule 1 allows (must produce no violation)."""

from __future__ import annotations

import datetime
import os.path
import random
from random import Random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from random import Random as Generator

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def shuffled(items: list[int], rng: random.Random) -> list[int]:
    copy = list(items)
    rng.shuffle(copy)
    return copy


def pick(items: list[int], rng: Random, spare: Generator | None = None) -> int:
    return rng.choice(items)


def pick_quoted(items: list[int], rng: "random.Random") -> int:
    return items[rng.randrange(len(items))]


def is_generator(value: object) -> bool:
    return isinstance(value, random.Random)


def format_timestamp(seconds: float) -> str:
    return (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()


def key(*parts: str) -> str:
    return os.path.join(*parts)
