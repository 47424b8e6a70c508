"""Node liveness on the leader: sessions, heartbeats, DOWN, UNKNOWN and ORPHANED,
on simulated time (assertions on simulated seconds, never on the wall clock)."""

from __future__ import annotations

import random

import pytest

from core.dispatcher.liveness import (
    DOWN_MESSAGE,
    UNKNOWN_MESSAGE,
    NodeLiveness,
    Orphan,
    SessionError,
    StatusChange,
)
from core.model.enums import NodeState
from core.timers import TimerHeap

DAY = 24 * 3600.0


def when_down(liveness: NodeLiveness, node_id: str, start: float, step: float = 0.01) -> float:
    """Simulated time at which ``node_id`` is reported DOWN, ticking every ``step``."""
    now = start
    while now < start + 100:
        now += step
        for output in liveness.tick(now):
            if output == StatusChange(node_id, NodeState.DOWN, DOWN_MESSAGE):
                return now
    raise AssertionError("never down")


def keep_alive(
    liveness: NodeLiveness, node_id: str, session: str, start: float, end: float
) -> list[StatusChange | Orphan]:
    """Heartbeat ``node_id`` on time from ``start`` to ``end``; what ticks said meanwhile."""
    outputs: list[StatusChange | Orphan] = []
    now = start
    while now < end:
        now += liveness.heartbeat(node_id, session, now)
        outputs += liveness.tick(now)
    return outputs


@pytest.mark.parametrize("seed", range(20))
def test_a_silent_node_is_down_after_three_periods(seed: int) -> None:
    liveness = NodeLiveness(random.Random(seed))
    session, period, ready = liveness.register("n1", 0.0)
    assert ready == StatusChange("n1", NodeState.READY)
    assert 4.5 <= period < 5.5
    down_at = when_down(liveness, "n1", 0.0)
    assert 13.5 <= down_at <= 16.5 + 0.01
    assert down_at == pytest.approx(3 * period, abs=0.011)
    with pytest.raises(SessionError, match="node not registered"):
        liveness.heartbeat("n1", session, down_at)


def test_heartbeats_keep_a_node_alive() -> None:
    liveness = NodeLiveness(random.Random(1))
    session, period, _ = liveness.register("n1", 0.0)
    now = 0.0
    for _ in range(50):
        now += period
        assert liveness.tick(now) == []
        period = liveness.heartbeat("n1", session, now)
        assert 4.5 <= period < 5.5
    assert liveness.sessions == {"n1": session}


def test_an_old_session_is_refused() -> None:
    liveness = NodeLiveness(random.Random(1))
    old, _, _ = liveness.register("n1", 0.0)
    new, _, _ = liveness.register("n1", 1.0)
    assert old != new
    with pytest.raises(SessionError, match="session invalid"):
        liveness.heartbeat("n1", old, 2.0)


def test_registering_more_than_three_times_in_eight_seconds_is_refused() -> None:
    liveness = NodeLiveness(random.Random(1))
    for at in (0.0, 1.0, 2.0):
        liveness.register("n1", at)
    with pytest.raises(SessionError, match="attempted registration too recently"):
        liveness.register("n1", 7.9)
    liveness.register("n1", 8.0)  # the first attempt has left the window


def test_after_a_leader_change_nodes_are_unknown_and_get_six_periods() -> None:
    liveness = NodeLiveness(random.Random(3))
    changes = liveness.leader_started([("n2", NodeState.READY), ("n1", NodeState.READY)], 100.0)
    assert changes == [
        StatusChange("n1", NodeState.UNKNOWN, UNKNOWN_MESSAGE),
        StatusChange("n2", NodeState.UNKNOWN, UNKNOWN_MESSAGE),
    ]
    session, _, _ = liveness.register("n1", 110.0)  # n1 finds the new leader in time
    outputs = keep_alive(liveness, "n1", session, 110.0, 140.0)
    [down] = [o for o in outputs if isinstance(o, StatusChange)]
    assert down == StatusChange("n2", NodeState.DOWN, DOWN_MESSAGE)
    assert liveness.down == {"n2"}


def test_the_unknown_grace_is_27_to_33_seconds() -> None:
    for seed in range(20):
        liveness = NodeLiveness(random.Random(seed))
        liveness.leader_started([("n1", NodeState.READY)], 100.0)
        assert 127.0 <= when_down(liveness, "n1", 100.0) <= 133.01


def test_a_node_down_for_a_day_has_its_tasks_orphaned() -> None:
    liveness = NodeLiveness(random.Random(1))
    liveness.register("n1", 0.0)
    down_at = when_down(liveness, "n1", 0.0)
    assert liveness.tick(down_at + DAY - 1) == []
    assert liveness.tick(down_at + DAY) == [Orphan("n1")]
    assert liveness.next_deadline is None


def test_coming_back_stops_the_orphan_timer_and_a_new_leader_restarts_it() -> None:
    liveness = NodeLiveness(random.Random(1))
    liveness.register("n1", 0.0)
    down_at = when_down(liveness, "n1", 0.0)
    session, _, _ = liveness.register("n1", down_at + 60)
    assert keep_alive(liveness, "n1", session, down_at + 60, down_at + DAY + 60) == []
    fresh = NodeLiveness(random.Random(2))
    fresh.leader_started([("n9", NodeState.DOWN)], 500.0)
    assert fresh.tick(500.0 + DAY - 1) == [] and fresh.tick(500.0 + DAY) == [Orphan("n9")]


def test_a_removed_node_has_no_timers_left() -> None:
    liveness = NodeLiveness(random.Random(1))
    liveness.register("n1", 0.0)
    liveness.node_removed("n1")
    assert liveness.next_deadline is None and liveness.tick(1e9) == []


# -- the timer heap ---------------------------------------------------------------------------


def test_timers_pop_in_deadline_order_and_rearming_replaces() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.arm("b", 2.0)
    timers.arm("a", 1.0)
    timers.arm("c", 2.0)
    timers.arm("a", 3.0)  # replaces a's first timer
    assert timers.next_deadline == 2.0
    assert timers.pop_due(2.5) == ["b", "c"]  # ties in the order armed
    timers.cancel("a")
    assert timers.next_deadline is None and timers.pop_due(10.0) == [] and len(timers) == 0
