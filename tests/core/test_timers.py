"""The core's timer heap: what is due at an instant (its deadline at or before it),
earliest first, each key once, a re-armed or cancelled key's old deadline never."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.timers import TimerHeap


def test_a_timer_is_due_at_its_deadline_not_before() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.arm("a", 5.0)
    assert timers.pop_due(4.999) == []
    assert timers.pop_due(5.0) == ["a"]
    assert timers.pop_due(100.0) == [] and len(timers) == 0


def test_a_rearmed_or_cancelled_key_keeps_no_old_deadline() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.arm("later", 9.0)
    timers.arm("later", 2.0)  # moved earlier: the 9.0 entry is stale
    timers.arm("gone", 1.0)
    timers.cancel("gone")
    timers.arm("moved", 3.0)
    timers.arm("moved", 20.0)  # moved later: the 3.0 entry is stale
    assert timers.next_deadline == 2.0
    assert timers.pop_due(10.0) == ["later"]
    assert timers.next_deadline == 20.0
    assert timers.pop_due(20.0) == ["moved"]


@given(
    st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 20), st.booleans()), max_size=30),
    st.lists(st.integers(0, 25), max_size=8),
)
def test_pop_due_matches_a_plain_dict_of_deadlines(
    arms: list[tuple[str, int, bool]], reads: list[int]
) -> None:
    timers: TimerHeap[str] = TimerHeap()
    model: dict[str, tuple[float, int]] = {}  # key -> (deadline, arm order)
    for order, (key, deadline, cancel) in enumerate(arms):
        if cancel:
            timers.cancel(key)
            model.pop(key, None)
        else:
            timers.arm(key, float(deadline))
            model[key] = (float(deadline), order)
    for now in sorted(reads):
        due = sorted((k for k, (d, _) in model.items() if d <= now), key=lambda k: model[k])
        assert timers.pop_due(float(now)) == due
        for key in due:
            del model[key]
        assert timers.next_deadline == min((d for d, _ in model.values()), default=None)
