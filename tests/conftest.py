"""Suite-wide set-up: the rule-1 runtime trap and Hypothesis profiles.

The trap goes in first, before any test module imports ``core``: from then on a clock,
sleep, global random function, ``os.urandom`` or socket called from a ``core`` module
raises (tests/rule1/io_trap.py). Other callers, pytest and Hypothesis included, are
unaffected.

Hypothesis profiles: ``ci`` (the default; bounded and derandomized, so CI is
reproducible) and ``nightly`` (many more examples). Pick one with HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import itertools
import os
from typing import TypeVar

# C extensions that check datetime's size at import must load before the trap swaps
# datetime.datetime for a subclass (msgpack warns otherwise); cryptography's Rust core
# keeps the first datetime class it converts, so it signs one certificate first.
import msgpack  # noqa: F401
import pytest

from tests.ca.warmup import warm_cryptography
from tests.rule1 import io_trap

warm_cryptography()
io_trap.install(("core",), strict=True)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly",
    max_examples=20_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first on every xdist worker: they start at once and the short
    ones fill in around them, instead of the longest real-mode runs beginning last
    and running on alone at the end. xdist's work stealing hands each worker one
    contiguous run of the collection, so the slow tests are dealt out over those runs
    (each begins with its share); without xdist they simply go first. Order is
    otherwise kept, and it is the same in every worker, as xdist requires."""
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    fast = [item for item in items if item.get_closest_marker("slow") is None]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    items[:] = dealt(slow, fast, workers)


T = TypeVar("T")


def dealt(slow: list[T], fast: list[T], workers: int) -> list[T]:
    """``slow`` dealt round robin to the runs xdist's work stealing gives ``workers``
    workers (it sends each idle worker an equal share of what is left, in order),
    each run topped up with ``fast`` in order."""
    total, order = len(slow) + len(fast), list[T]()
    shares = [slow[i::workers] for i in range(workers)] if workers > 1 else [slow]
    fast_left = iter(fast)
    for index, share in enumerate(shares):
        size = (total - len(order)) // (len(shares) - index)
        order.extend(share)
        order.extend(itertools.islice(fast_left, max(0, size - len(share))))
    order.extend(fast_left)
    return order
