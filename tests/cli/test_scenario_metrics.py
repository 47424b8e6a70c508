"""What a run measured, read off hand-built timelines: the looks' samples as
stretches, a service's outages, when the swarm settled, leadership as the looks saw
it, and the quantities a ``measure:`` expectation compares."""

from __future__ import annotations

import pytest

from cli.scenario import metrics
from cli.scenario.quantities import BadQuantity, read
from cli.timeline import Timeline


def samples(*counts: int, every: float = 1.0) -> list[tuple[float, int]]:
    """One look a second (or ``every``), from 0 s."""
    return [(index * every, count) for index, count in enumerate(counts)]


def timeline(
    running: list[tuple[float, int]],
    desired: list[tuple[float, int]] | None = None,
    end: float | None = None,
    looks: list[tuple[float, str]] | None = None,
) -> Timeline:
    """A run of one service, web, and its looks (by default, all led by manager-1)."""
    wanted = desired if desired is not None else [(t, 2) for t, _ in running]
    seen = looks if looks is not None else [(t, "manager-1") for t, _ in running]
    last = end if end is not None else max(t for t, _ in [*running, *seen])
    return Timeline(
        "t", simulated=last, running={"web": running}, desired={"web": wanted}, looks=seen
    )


# -- stretches and outages --------------------------------------------------------------------


def test_stretches_join_consecutive_looks_and_clip_to_the_window() -> None:
    looks = samples(0, 1, 1, 0, 1)
    holds = [(t, n) for t, n in looks]
    assert metrics.stretches(holds, lambda i: looks[i][1] == 1, 0.0, 6.0) == [
        (1.0, 3.0),
        (4.0, 6.0),
    ]
    assert metrics.stretches(holds, lambda i: looks[i][1] == 1, 1.5, 4.5) == [
        (1.5, 3.0),
        (4.0, 4.5),
    ]
    assert metrics.stretches(holds, lambda i: False, 0.0, 6.0) == []


def test_a_service_that_was_never_up_has_no_outage() -> None:
    assert metrics.outages(samples(0, 0, 0), samples(2, 2, 2), 0.0, 3.0) == []


def test_an_outage_counts_only_after_the_service_was_first_up() -> None:
    running = samples(0, 2, 0, 0, 2)  # starting (not an outage), up, down 2 s, up
    assert metrics.outages(running, samples(2, 2, 2, 2, 2), 0.0, 5.0) == [(2.0, 4.0)]


def test_an_outage_open_at_the_end_lasts_until_the_end() -> None:
    running = samples(2, 2, 0)
    assert metrics.outages(running, samples(2, 2, 2), 0.0, 7.5) == [(2.0, 7.5)]


def test_a_window_clips_an_outage() -> None:
    running = samples(2, 0, 0, 0, 0, 2)  # down from 1 s to 5 s
    assert metrics.outages(running, samples(2, 2, 2, 2, 2, 2), 2.0, 3.5) == [(2.0, 3.5)]
    assert metrics.outages(running, samples(2, 2, 2, 2, 2, 2), 5.0, 9.0) == []


def test_a_service_scaled_to_nothing_is_not_down() -> None:
    assert metrics.outages(samples(2, 0, 0), samples(2, 0, 0), 0.0, 3.0) == []


# -- settling ---------------------------------------------------------------------------------


def test_convergence_counts_from_the_last_faults_end() -> None:
    run = timeline(samples(2, 2, 1, 1, 2, 2, 2), end=6.0)
    run.faults = [(1.0, 3.0, "crash worker-1")]
    assert metrics.converged_after(run) == 1.0  # settled from 4 s on


def test_convergence_interrupted_after_the_last_fault_counts_from_the_later_settling() -> None:
    run = timeline(samples(2, 1, 2, 2, 1, 2, 2), end=6.0)
    run.faults = [(0.5, 1.5, "crash worker-1")]
    assert metrics.converged_after(run) == 3.5  # 2 s settled, 4 s not, from 5 s for good


def test_a_swarm_still_unsettled_at_the_end_never_converged() -> None:
    run = timeline(samples(2, 2, 1), end=2.0)
    run.faults = [(0.0, 1.0, "crash worker-1")]
    assert metrics.converged_after(run) is None


# -- leadership, as the looks saw it ----------------------------------------------------------

LOOKS = [
    (0.0, "manager-1"),
    (1.0, ""),
    (2.0, "manager-1"),  # won back: an election, not a change
    (3.0, "manager-2"),  # moved: an election and a change
    (4.0, ""),
    (5.0, ""),
    (6.0, "manager-3"),
]


def test_elections_are_looks_that_see_a_new_leader() -> None:
    assert metrics.elections(LOOKS, 0.0, 6.0) == [
        (2.0, "manager-1"),
        (3.0, "manager-2"),
        (6.0, "manager-3"),
    ]
    assert metrics.elections(LOOKS, 2.5, 5.0) == [(3.0, "manager-2")]


def test_a_leader_change_is_leadership_moving_to_another_host() -> None:
    changes = [(3.0, "manager-1", "manager-2"), (6.0, "manager-2", "manager-3")]
    assert metrics.leader_changes(LOOKS, 0.0, 6.0) == changes
    assert metrics.leader_changes(LOOKS, 4.0, 6.0) == changes[1:]  # from the leader before


def test_the_runs_measures_agree_with_its_looks() -> None:
    run = timeline(samples(2, 2, 0, 2, 2, 2, 2), looks=LOOKS, end=7.0)
    measured = metrics.measure(run)
    assert (measured.elections, measured.leader_changes) == (3, 2)
    assert measured.leaderless_s == 3.0
    assert (measured.downtime_s, measured.max_outage_s) == ({"web": 1.0}, {"web": 1.0})


def test_counts_in_a_window_start_with_the_one_in_force() -> None:
    running = samples(1, 2, 3, 2)
    assert metrics.counts(running, 1.5, 2.5) == [(1.5, 2), (2.0, 3)]
    assert metrics.counts(running, 3.5, 9.0) == [(3.5, 2)]  # the last look holds on
    assert metrics.counts([(2.0, 3)], 0.0, 5.0) == [(0.0, 0), (2.0, 3)]  # before it existed


# -- quantities -------------------------------------------------------------------------------


def measured(
    text: str, run: Timeline, start: float = 0.0, end: float | None = None
) -> tuple[bool, str]:
    return read(text).judge(run, start, run.simulated if end is None else end)


DOWN = timeline(samples(2, 2, 0, 0, 0, 2, 1, 0, 2), end=9.0)  # down 2-5 s and 7-8 s


@pytest.mark.parametrize(
    ("text", "holds", "seen"),
    [
        ("downtime of service web < 4s", False, "downtime 4s in 2 outages"),
        ("downtime of service web <= 4s", True, "downtime 4s in 2 outages"),
        ("max downtime of service web < 3s", False, "max downtime 3s (from 2.0s to 5.0s)"),
        ("max downtime of service web <= 3s", True, "max downtime 3s (from 2.0s to 5.0s)"),
        ("min running of service web == 0", True, "min running 0 (at 2.0s)"),
        ("max running of service web > 2", False, "max running 2 (at 0.0s)"),
    ],
)
def test_quantities_over_the_whole_run(text: str, holds: bool, seen: str) -> None:
    assert measured(text, DOWN) == (holds, seen)


def test_a_window_measures_only_itself() -> None:
    assert measured("downtime of service web == 1s", DOWN, 6.0, 9.0) == (
        True,
        "downtime 1s in 1 outage",
    )
    assert measured("max downtime of service web < 1s", DOWN, 0.0, 1.5) == (
        True,
        "max downtime 0s (no outage)",
    )
    assert measured("min running of service web >= 1", DOWN, 5.0, 6.5) == (
        True,
        "min running 1 (at 6.0s)",
    )


def test_a_service_that_never_existed_measures_nothing_and_says_so() -> None:
    assert measured("downtime of service db == 0s", DOWN) == (
        True,
        "downtime 0s (no service db in the window)",
    )
    assert measured("max running of service db < 1", DOWN) == (
        True,
        "max running 0 (no service db in the window)",
    )
    late = timeline([(5.0, 2)], end=9.0)
    assert measured("min running of service web == 0", late, 0.0, 4.0)[1] == (
        "min running 0 (no service web in the window)"
    )


def test_leadership_quantities() -> None:
    run = timeline(samples(2, 2, 2, 2, 2, 2, 2), looks=LOOKS, end=7.0)
    assert measured("leader changes <= 1", run) == (
        False,
        "leader changes 2 (manager-1 to manager-2 at 3.0s, manager-2 to manager-3 at 6.0s)",
    )
    assert measured("elections == 3", run) == (
        True,
        "elections 3 (manager-1 at 2.0s, manager-2 at 3.0s, manager-3 at 6.0s)",
    )
    assert measured("time without leader < 3s", run) == (
        False,
        "time without leader 3s in 2 stretches",
    )
    assert measured("max time without leader < 2500ms", run) == (
        True,
        "max time without leader 2s (from 4.0s to 6.0s)",
    )
    assert measured("max time without leader == 0s", run, 6.0, 7.0) == (
        True,
        "max time without leader 0s (a leader at every look)",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "uptime of service web > 1s",
            "unknown quantity 'uptime of service web' (one of downtime of",
        ),
        ("max downtime of service web 1s", "expected QUANTITY OP VALUE"),
        ("leader changes => 1", "'=>' is not a comparison here (one of < <= > >= ==)"),
        ("leader changes != 1", "'!=' is not a comparison here"),
        ("leader changes =", "a value must follow ="),
        (
            "max downtime of service web < 10",
            "a time: give a duration (10s, 1m30s, 500ms), not a bare number 10",
        ),
        ("time without leader < 10x", "'10x' is not a duration"),
        ("time without leader < -1s", "a time is not negative"),
        ("elections < 1s", "elections is a count: give a whole number, not a duration 1s"),
        ("min running of service web > two", "'two' is not a whole number"),
    ],
)
def test_a_quantity_that_cannot_be_read_says_why(text: str, problem: str) -> None:
    with pytest.raises(BadQuantity) as caught:
        read(text)
    assert problem in str(caught.value)


def test_time_bounds_take_go_durations() -> None:
    assert read("max downtime of service web < 1m30s").bound == 90.0
    assert read("time without a leader < 500ms").bound == 0.5
    assert read("leader changes<=1").bound == 1.0
