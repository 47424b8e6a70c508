"""The suite's order for xdist (tests/conftest.py): every worker's run of the collection
begins with its share of the slow tests, as work stealing will cut the runs."""

from __future__ import annotations

import pytest

from tests.conftest import dealt


def runs(order: list[str], workers: int) -> list[list[str]]:
    """The runs xdist's work stealing sends idle workers at the start: each an equal
    share of what is left, in order."""
    left, cut = list(order), []
    for index in range(workers):
        size = len(left) // (workers - index)
        cut.append(left[:size])
        left = left[size:]
    return cut


@pytest.mark.parametrize(("slow", "fast", "workers"), [(7, 23, 5), (12, 3554, 5), (3, 10, 2)])
def test_each_worker_starts_with_its_share_of_the_slow_tests(
    slow: int, fast: int, workers: int
) -> None:
    slow_tests = [f"slow{i}" for i in range(slow)]
    fast_tests = [f"fast{i}" for i in range(fast)]
    order = dealt(slow_tests, fast_tests, workers)
    assert sorted(order) == sorted(slow_tests + fast_tests)
    for index, run in enumerate(runs(order, workers)):
        share = slow_tests[index::workers]
        assert run[: len(share)] == share
        assert not any(name.startswith("slow") for name in run[len(share) :])
    assert [t for t in order if t.startswith("fast")] == fast_tests  # order kept


def test_without_xdist_the_slow_tests_go_first() -> None:
    assert dealt(["s1", "s2"], ["f1", "f2"], 1) == ["s1", "s2", "f1", "f2"]
