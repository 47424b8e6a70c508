"""What an agent is told to run: its node's assignment set, first whole, then as
changes (SwarmKit's ``Assignments`` stream, §9.2).

A node's set holds its tasks once the scheduler has assigned them (state ASSIGNED
or beyond), until they leave the store. The first message of a session is the
whole set (COMPLETE); later ones (INCREMENTAL) carry only what changed: new tasks,
tasks the agent must act on, and removals. A task still at ASSIGNED is sent again
on any change; once the agent has it further along, only a change of what the
agent acts on (its spec, desired state or node) is news: its own status reports
coming back are not (SwarmKit's ``TasksEqualStable``).

The set also holds the secrets and configs its tasks use, by ID: those of every
task there from ASSIGNED to RUNNING (observed, whatever its desired state), so one
is sent when the first such task appears and removed when the last one ends or
goes (SwarmKit's dependency reference counts in ``assignmentSet``).
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
    secrets: tuple[str, ...] = ()  # secret ids the node needs now (new to it)
    secrets_removed: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    configs_removed: tuple[str, ...] = ()


def _stable(task: Task) -> tuple[object, ...]:
    """What the agent acts on; status and store metadata left out."""
    return (task.spec, task.desired_state, task.node_id, task.spec_version, task.endpoint)


class AssignmentSet:
    """The tasks last sent to one node's session."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.sent: dict[str, Task] | None = None  # None until the COMPLETE message
        self.secrets: frozenset[str] = frozenset()  # ids sent, not since removed
        self.configs: frozenset[str] = frozenset()

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
        secrets, configs = _dependencies(current.values())
        had_secrets, self.secrets = self.secrets, secrets
        had_configs, self.configs = self.configs, configs
        if previous is None:
            updates = tuple(current[i] for i in sorted(current))
            return Assignments(
                AssignmentKind.COMPLETE,
                updates,
                (),
                secrets=tuple(sorted(secrets)),
                configs=tuple(sorted(configs)),
            )
        changed = tuple(
            current[i]
            for i in sorted(current)
            if i not in previous
            or (previous[i].status.state <= TaskState.ASSIGNED and previous[i] != current[i])
            or _stable(previous[i]) != _stable(current[i])
        )
        removed = tuple(sorted(i for i in previous if i not in current))
        message = Assignments(
            AssignmentKind.INCREMENTAL,
            changed,
            removed,
            tuple(sorted(secrets - had_secrets)),
            tuple(sorted(had_secrets - secrets)),
            tuple(sorted(configs - had_configs)),
            tuple(sorted(had_configs - configs)),
        )
        if message == Assignments(AssignmentKind.INCREMENTAL, (), ()):
            return None
        return message


def _dependencies(tasks: Iterable[Task]) -> tuple[frozenset[str], frozenset[str]]:
    """The secret and config ids the tasks from ASSIGNED to RUNNING use."""
    secrets: set[str] = set()
    configs: set[str] = set()
    for task in tasks:
        container = task.spec.container_spec
        if container is None or not TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING:
            continue
        secrets.update(ref.secret_id for ref in container.secrets)
        configs.update(ref.config_id for ref in container.configs)
    return frozenset(secrets), frozenset(configs)
