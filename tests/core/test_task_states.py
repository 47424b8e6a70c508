"""Task states, their owners and legal transitions (TASK-xx; DESIGN.md section 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidTransition
from core.tasks.states import DESIRED_STATES, OBSERVED_STATES, TaskState
from core.tasks.transitions import (
    DELETABLE_STATES,
    EDGES,
    Owner,
    Verdict,
    apply_status_report,
    check_deletable,
    check_desired,
    check_transition,
    is_legal,
    owners_of,
)

S = TaskState


def test_states_have_swarmkit_numeric_values() -> None:
    assert {s.name: int(s) for s in TaskState} == {
        "NEW": 0,
        "PENDING": 64,
        "ASSIGNED": 192,
        "ACCEPTED": 256,
        "PREPARING": 320,
        "READY": 384,
        "STARTING": 448,
        "RUNNING": 512,
        "COMPLETE": 576,
        "SHUTDOWN": 640,
        "FAILED": 704,
        "REJECTED": 768,
        "REMOVE": 800,
        "ORPHANED": 832,
    }


def test_wire_names_are_lowercase_and_round_trip() -> None:
    for state in TaskState:
        assert state.wire_name == state.name.lower()
        assert TaskState.from_wire(state.wire_name) is state


def test_remove_is_never_an_observed_state() -> None:
    assert S.REMOVE not in OBSERVED_STATES
    assert all(end is not S.REMOVE for _, _, end in EDGES)


def test_every_single_step_goes_up() -> None:
    for owner, start, end in EDGES:
        assert end > start, (owner, start, end)


OWNED = [
    (Owner.ALLOCATOR, S.NEW, S.PENDING),
    (Owner.SCHEDULER, S.PENDING, S.ASSIGNED),
    (Owner.SCHEDULER, S.PENDING, S.SHUTDOWN),
    (Owner.AGENT, S.ASSIGNED, S.ACCEPTED),
    (Owner.AGENT, S.ASSIGNED, S.RUNNING),  # coalesced reports: several agent steps at once
    (Owner.AGENT, S.READY, S.STARTING),
    (Owner.AGENT, S.READY, S.FAILED),  # coalesced: STARTING then a failed start
    (Owner.AGENT, S.RUNNING, S.COMPLETE),
    (Owner.AGENT, S.PREPARING, S.REJECTED),
    (Owner.AGENT, S.STARTING, S.FAILED),
    (Owner.AGENT, S.RUNNING, S.FAILED),
    (Owner.AGENT, S.ACCEPTED, S.SHUTDOWN),
    (Owner.AGENT, S.RUNNING, S.SHUTDOWN),
    (Owner.DISPATCHER, S.RUNNING, S.ORPHANED),
    (Owner.DISPATCHER, S.ASSIGNED, S.ORPHANED),
    (Owner.CONSTRAINT_ENFORCER, S.RUNNING, S.REJECTED),
]


@pytest.mark.parametrize(("owner", "source", "target"), OWNED)
def test_owner_may_make_its_transition(owner: Owner, source: S, target: S) -> None:
    check_transition(owner, source, target)


REFUSED = [
    (Owner.SCHEDULER, S.NEW, S.PENDING, "only the allocator may do that"),
    (Owner.AGENT, S.PENDING, S.ASSIGNED, "only the scheduler may do that"),
    (Owner.SCHEDULER, S.ASSIGNED, S.RUNNING, "only the agent may do that"),
    (Owner.AGENT, S.RUNNING, S.PREPARING, "never goes down"),
    (Owner.AGENT, S.RUNNING, S.RUNNING, "already in that state"),
    (Owner.AGENT, S.RUNNING, S.REMOVE, "desired state only"),
    (Owner.AGENT, S.COMPLETE, S.FAILED, "no component may make that transition"),
    # At STARTING an agent's failure is FAILED; only the manager's enforcer rejects then.
    (Owner.AGENT, S.STARTING, S.REJECTED, "only the constraint-enforcer may do that"),
    (Owner.AGENT, S.ACCEPTED, S.ORPHANED, "only the dispatcher may do that"),
    (Owner.DISPATCHER, S.PENDING, S.ORPHANED, "no component"),
    (Owner.ORCHESTRATOR, S.NEW, S.PENDING, "only the allocator"),
]


@pytest.mark.parametrize(("owner", "source", "target", "reason"), REFUSED)
def test_illegal_transition_raises_naming_the_reason(
    owner: Owner, source: S, target: S, reason: str
) -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(owner, source, target)
    message = str(caught.value)
    assert f"{source.wire_name} -> {target.wire_name}" in message
    assert owner.value in message
    assert reason in message


def test_terminal_states_have_no_way_out() -> None:
    for state in (S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.ORPHANED):
        for target in TaskState:
            assert owners_of(state, target) == (), (state, target)


def test_reaper_deletes_only_unstarted_or_finished_tasks() -> None:
    assert {
        S.NEW,
        S.PENDING,
        S.COMPLETE,
        S.SHUTDOWN,
        S.FAILED,
        S.REJECTED,
        S.ORPHANED,
    } == DELETABLE_STATES
    for state in OBSERVED_STATES:
        if state in DELETABLE_STATES:
            check_deletable(state)
        else:
            with pytest.raises(InvalidTransition, match="may not delete"):
                check_deletable(state)


def test_desired_state_never_goes_down_and_is_a_desired_value() -> None:
    check_desired(S.READY, S.RUNNING)
    check_desired(S.RUNNING, S.REMOVE)
    with pytest.raises(InvalidTransition, match="never goes down"):
        check_desired(S.SHUTDOWN, S.RUNNING)
    with pytest.raises(InvalidTransition, match="desired state is one of"):
        check_desired(S.RUNNING, S.FAILED)


owners = st.sampled_from(list(Owner))
states = st.sampled_from(list(TaskState))


def _refusal(owner: Owner, source: TaskState, target: TaskState) -> str:
    """check_transition's error text; fails the test if it does not raise."""
    with pytest.raises(InvalidTransition) as caught:
        check_transition(owner, source, target)
    message = str(caught.value)
    # Independently of is_legal: the error names both states, in order, and the owner.
    assert f"illegal task transition {source.wire_name} -> {target.wire_name} " in message
    assert f" by the {owner.value}: " in message
    return message


@given(
    st.sampled_from(OBSERVED_STATES),
    st.lists(st.tuples(owners, states), max_size=60),
)
def test_random_walks_never_lower_never_observe_remove_and_refuse_illegal(
    start: TaskState, steps: list[tuple[Owner, TaskState]]
) -> None:
    """Any sequence of (owner, target) attempts: legal ones apply, others raise."""
    state = start
    for owner, target in steps:
        if target is S.REMOVE:
            assert "desired state only" in _refusal(owner, state, target)
        elif target < state:
            # Decided without is_legal: a lower target is always refused.
            assert "never goes down" in _refusal(owner, state, target)
        elif target == state:
            assert "already in that state" in _refusal(owner, state, target)
        elif is_legal(owner, state, target):
            check_transition(owner, state, target)
            # A legal move starts with one of this owner's own steps out of ``state``.
            assert any(o is owner and a is state for o, a, _ in EDGES)
            state = target
        else:
            _refusal(owner, state, target)
        assert state is not S.REMOVE
        assert state >= start


@given(st.lists(states, max_size=40))
def test_status_reports_never_lower_the_stored_state(reports: list[TaskState]) -> None:
    stored = S.ASSIGNED
    for reported in reports:
        outcome = apply_status_report(stored, reported, same_status=False)
        assert outcome.state >= stored
        if reported < stored:
            assert outcome.verdict is Verdict.DROPPED_LOWER
        if outcome.applied:
            assert outcome.state == reported
        stored = outcome.state
        assert stored is not S.REMOVE


@given(st.lists(st.sampled_from(list(DESIRED_STATES)), min_size=1, max_size=20))
def test_desired_walks_accept_only_non_decreasing_steps(sequence: list[TaskState]) -> None:
    current = S.READY
    for requested in sequence:
        if requested >= current:
            check_desired(current, requested)
            current = requested
        else:
            with pytest.raises(InvalidTransition):
                check_desired(current, requested)


def test_identical_report_is_dropped_but_new_details_apply() -> None:
    assert (
        apply_status_report(S.RUNNING, S.RUNNING, same_status=True).verdict is Verdict.DROPPED_SAME
    )
    assert apply_status_report(S.RUNNING, S.RUNNING, same_status=False).applied
    assert (
        apply_status_report(S.RUNNING, S.ASSIGNED, same_status=False).verdict
        is Verdict.DROPPED_LOWER
    )
    assert (
        apply_status_report(S.PENDING, S.RUNNING, same_status=False).verdict
        is Verdict.DROPPED_ILLEGAL
    )
