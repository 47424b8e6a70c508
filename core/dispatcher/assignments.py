"""What an agent is told to run: its node's assignment set, first whole, then as
changes (SwarmKit's ``Assignments`` stream, §9.2).

A node's set holds its tasks once the scheduler has assigned them (state ASSIGNED
or beyond), until they leave the store. The first message of a session is the
whole set (COMPLETE); later ones (INCREMENTAL) carry only what changed: new tasks,
tasks the agent must act on, and removals. A task still at ASSIGNED is sent again
on any change; once the agent has it further along, only a change of what the
agent acts on (its spec, desired state or node) is news: its own status reports
coming back are not (SwarmKit's ``TasksEqualStable``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from core.model.task import Task
from core.tasks.states import TaskState


class AssignmentKind(enum.Enum):
    COMPLETE = "complete"
    INCREMENTAL = "incremental"


@dataclass(frozen=True, slots=True)
class Assignments:
    kind: AssignmentKind
    updates: tuple[Task, ...]  # tasks to run or act on, by id
    removes: tuple[str, ...]  # task ids the agent must forget (and whose containers go)


def _stable(task: Task) -> tuple[object, ...]:
    """What the agent acts on; status and store metadata left out."""
    return (task.spec, task.desired_state, task.node_id, task.spec_version, task.endpoint)


class AssignmentSet:
    """The tasks last sent to one node's session."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.sent: dict[str, Task] | None = None  # None until the COMPLETE message

    def _current(self, tasks: Iterable[Task]) -> dict[str, Task]:
        return {
            t.id: t
            for t in tasks
            if t.node_id == self.node_id and t.status.state >= TaskState.ASSIGNED
        }

    def next_message(self, tasks: Iterable[Task]) -> Assignments | None:
        """The message that brings the agent up to ``tasks`` (the node's tasks in the
        store now), or None when it already has everything."""
        current = self._current(tasks)
        previous, self.sent = self.sent, current
        if previous is None:
            updates = tuple(current[i] for i in sorted(current))
            return Assignments(AssignmentKind.COMPLETE, updates, ())
        changed = tuple(
            current[i]
            for i in sorted(current)
            if i not in previous
            or (previous[i].status.state <= TaskState.ASSIGNED and previous[i] != current[i])
            or _stable(previous[i]) != _stable(current[i])
        )
        removed = tuple(sorted(i for i in previous if i not in current))
        if not changed and not removed:
            return None
        return Assignments(AssignmentKind.INCREMENTAL, changed, removed)
