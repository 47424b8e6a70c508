"""Suite-wide set-up: the rule-1 runtime trap and Hypothesis profiles.

The trap goes in first, before any test module imports ``core``: from then on a clock,
sleep, global random function, ``os.urandom`` or socket called from a ``core`` module
raises (tests/rule1/io_trap.py). Other callers, pytest and Hypothesis included, are
unaffected.

Hypothesis profiles: ``ci`` (the default; bounded and derandomized, so CI is
reproducible) and ``nightly`` (many more examples). Pick one with HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import os

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
    """The slow tests first (a stable sort: order is otherwise kept): with xdist they
    start at once and the short ones fill in around them, instead of the longest
    real-mode runs beginning last and running on alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
