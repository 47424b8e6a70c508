"""Where a scenario's looks fall: a quarter of the way into each half second, off the
grid the swarm's own half-second timers and the steps' commands keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.scenario import runner
from cli.scenario.judging import next_look
from cli.scenario.metrics import measure
from cli.scenario.schema import load

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    ("now", "after"), [(0.0, 0.25), (0.25, 0.75), (0.3, 0.75), (20.004, 20.25), (-1.0, 0.25)]
)
def test_the_next_look_is_a_quarter_into_a_half_second(now: float, after: float) -> None:
    assert next_look(now) == pytest.approx(after)


def test_a_start_first_update_is_not_caught_between_a_task_and_its_successor() -> None:
    """Each slot has a 2 ms moment with the new task running and the old one not yet
    told to stop; looks on the half-second grid landed in one and counted the service
    unconverged until the update ended (62 s), which real looks never saw (1 s)."""
    report = runner.run(load(str(SCENARIOS / "rolling-update-start-first.yml")), 1)
    converged = measure(report.timeline).converged_s
    assert converged is not None and converged < 5.0
