"""Who may move a task from which state to which: the legal transitions as data.

Every transition of a task's observed state lives in :data:`EDGES`, one row per
single step, with the component that owns it (after SwarmKit's TLA+ model
``design/tla/Tasks.tla`` and its code). A component may make several of its own steps
at once (an agent that reports RUNNING for a task the manager last saw ASSIGNED has
taken five agent steps), so a transition is legal for an owner when a path of that
owner's edges leads from the old state to the new one. Nothing else is legal: a
lower state, a jump across owners, REMOVE as an observed state.

The dispatcher applies agents' reports through :func:`apply_status_report`, which
drops (and says why) any report that would lower the state or repeats the stored one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from core.errors import InvalidTransition
from core.tasks.states import DESIRED_STATES, TaskState

S = TaskState


class Owner(enum.Enum):
    """The component that makes a transition."""

    ORCHESTRATOR = "orchestrator"
    ALLOCATOR = "allocator"
    SCHEDULER = "scheduler"
    AGENT = "agent"
    DISPATCHER = "dispatcher"
    CONSTRAINT_ENFORCER = "constraint-enforcer"
    REAPER = "reaper"


_AGENT_RUN = (S.ASSIGNED, S.ACCEPTED, S.PREPARING, S.READY, S.STARTING, S.RUNNING)

#: Single steps of a task's observed state and who owns each. The orchestrator's
#: creation (nothing -> NEW) and the reaper's deletion are not state changes; see
#: :data:`CREATED_STATE` and :data:`DELETABLE_STATES`.
EDGES: tuple[tuple[Owner, TaskState, TaskState], ...] = (
    (Owner.ALLOCATOR, S.NEW, S.PENDING),
    (Owner.SCHEDULER, S.PENDING, S.ASSIGNED),
    # SwarmKit #2998: an unplaceable PENDING task of an old revision whose desired
    # state is SHUTDOWN or beyond is shut down by the scheduler, not left pending.
    (Owner.SCHEDULER, S.PENDING, S.SHUTDOWN),
    (Owner.AGENT, S.ASSIGNED, S.ACCEPTED),
    (Owner.AGENT, S.ACCEPTED, S.PREPARING),
    (Owner.AGENT, S.PREPARING, S.READY),
    (Owner.AGENT, S.READY, S.STARTING),
    (Owner.AGENT, S.STARTING, S.RUNNING),
    (Owner.AGENT, S.RUNNING, S.COMPLETE),
    # A fatal error before STARTING rejects the task; at or after it, fails it.
    *((Owner.AGENT, state, S.REJECTED) for state in _AGENT_RUN if state < S.STARTING),
    (Owner.AGENT, S.STARTING, S.FAILED),
    (Owner.AGENT, S.RUNNING, S.FAILED),
    # Desired SHUTDOWN or beyond stops a task that has not finished.
    *((Owner.AGENT, state, S.SHUTDOWN) for state in _AGENT_RUN),
    # After 24 h DOWN, tasks that may still be running on the lost node are orphaned.
    *((Owner.DISPATCHER, state, S.ORPHANED) for state in _AGENT_RUN),
    # A node that stops matching the service's constraints rejects its tasks.
    *((Owner.CONSTRAINT_ENFORCER, state, S.REJECTED) for state in _AGENT_RUN),
)

#: The state the orchestrator creates tasks in.
CREATED_STATE = S.NEW

#: Observed states in which the reaper may delete a task.
DELETABLE_STATES: frozenset[TaskState] = frozenset(
    {S.NEW, S.PENDING, S.COMPLETE, S.SHUTDOWN, S.FAILED, S.REJECTED, S.ORPHANED}
)


@cache
def _reachable(owner: Owner, source: TaskState) -> frozenset[TaskState]:
    """States ``owner`` can reach from ``source`` by one or more of its own steps."""
    found: set[TaskState] = set()
    frontier = [source]
    while frontier:
        state = frontier.pop()
        for edge_owner, start, end in EDGES:
            if edge_owner is owner and start is state and end not in found:
                found.add(end)
                frontier.append(end)
    return frozenset(found)


def is_legal(owner: Owner, source: TaskState, target: TaskState) -> bool:
    """Whether ``owner`` may move a task observed in ``source`` to ``target``."""
    return target in _reachable(owner, source)


def owners_of(source: TaskState, target: TaskState) -> tuple[Owner, ...]:
    """The owners for which ``source -> target`` is legal (empty if nobody's)."""
    return tuple(owner for owner in Owner if is_legal(owner, source, target))


def check_transition(owner: Owner, source: TaskState, target: TaskState) -> None:
    """Raise :class:`InvalidTransition` unless ``owner`` may make this change."""
    if is_legal(owner, source, target):
        return
    if target is S.REMOVE:
        reason = "REMOVE is a desired state only; no task is ever observed in it"
    elif target < source:
        reason = "a task's observed state never goes down"
    elif target == source:
        reason = "the task is already in that state"
    else:
        others = owners_of(source, target)
        reason = (
            f"only the {', '.join(o.value for o in others)} may do that"
            if others
            else "no component may make that transition"
        )
    raise InvalidTransition(
        f"illegal task transition {source.wire_name} -> {target.wire_name} "
        f"by the {owner.value}: {reason}"
    )


def check_desired(current: TaskState, requested: TaskState) -> None:
    """Raise unless the desired state may move from ``current`` to ``requested``."""
    if requested not in DESIRED_STATES:
        raise InvalidTransition(
            f"illegal desired state {requested.wire_name}: desired state is one of "
            + ", ".join(s.wire_name for s in DESIRED_STATES)
        )
    if requested < current:
        raise InvalidTransition(
            f"illegal desired state change {current.wire_name} -> {requested.wire_name}: "
            "desired state never goes down"
        )


def check_deletable(state: TaskState) -> None:
    """Raise unless the reaper may delete a task observed in ``state``."""
    if state not in DELETABLE_STATES:
        raise InvalidTransition(
            f"the reaper may not delete a task in state {state.wire_name}: "
            "only new, pending or finished tasks are deleted"
        )


class Verdict(enum.Enum):
    """What became of an agent's status report."""

    APPLIED = "applied"
    DROPPED_LOWER = "dropped: lower than the stored state"
    DROPPED_SAME = "dropped: identical to the stored status"
    DROPPED_ILLEGAL = "dropped: not a transition the agent may make"


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """The result of applying one status report: the verdict and the new state."""

    verdict: Verdict
    state: TaskState

    @property
    def applied(self) -> bool:
        return self.verdict is Verdict.APPLIED


def apply_status_report(stored: TaskState, reported: TaskState, same_status: bool) -> ReportOutcome:
    """Decide a status report from an agent against the stored state.

    ``same_status`` says whether the report equals the stored status in every field;
    SwarmKit's dispatcher drops those as well as reports that lower the state. A
    lowered state is never applied: the report is dropped and the caller records why.
    """
    if reported < stored:
        return ReportOutcome(Verdict.DROPPED_LOWER, stored)
    if reported == stored:
        verdict = Verdict.DROPPED_SAME if same_status else Verdict.APPLIED
        return ReportOutcome(verdict, stored)
    if not is_legal(Owner.AGENT, stored, reported):
        return ReportOutcome(Verdict.DROPPED_ILLEGAL, stored)
    return ReportOutcome(Verdict.APPLIED, reported)


def legal_targets(owner: Owner, source: TaskState) -> Iterable[TaskState]:
    """The states ``owner`` may move a task in ``source`` to, lowest first."""
    return sorted(_reachable(owner, source))
