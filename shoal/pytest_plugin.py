"""pytest fixtures for simulated swarms (a plugin pytest loads once shoal is
installed: its ``pytest11`` entry point).

- ``sim_swarm``: a formed swarm of 3 managers and 3 workers (seed 1); mark the test
  ``@pytest.mark.swarm(managers=5, workers=2, seed=9)`` for another;
- ``sim_swarm_factory``: ``sim_swarm_factory(managers=1, workers=0, seed=3)``, as
  many swarms as the test wants.

Every swarm is finished after the test. When the test failed, its report carries a
``shoal scenario`` section: the scenario file that replays what the test did
(``shoal sim run FILE``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pytest loads this plugin first thing: the simulator comes when used
    from shoal.testing.swarm import SimSwarm

_SWARMS = pytest.StashKey[list["SimSwarm"]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "swarm(managers=3, workers=3, seed=1, ...): the sim_swarm fixture's swarm"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        swarms: list[SimSwarm] = item.stash.get(_SWARMS, [])
        for index, swarm in enumerate(swarms):
            title = "shoal scenario" + (f" {index + 1}" if index else "")
            report.sections.append((title, swarm.scenario_yaml()))


@pytest.fixture
def sim_swarm_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SimSwarm]]:
    swarms = request.node.stash.setdefault(_SWARMS, [])

    from shoal.testing.swarm import SimSwarm

    def make(**options: Any) -> SimSwarm:
        swarm = SimSwarm(**options)
        swarms.append(swarm)
        return swarm

    yield make
    failures = []
    for swarm in swarms:  # every swarm finished, whichever raises
        try:
            swarm.finish()
        except AssertionError as failure:
            failures.append(failure)
    if failures:
        raise failures[0]


@pytest.fixture
def sim_swarm(
    request: pytest.FixtureRequest, sim_swarm_factory: Callable[..., SimSwarm]
) -> SimSwarm:
    marker = request.node.get_closest_marker("swarm")
    return sim_swarm_factory(**(marker.kwargs if marker is not None else {}))
