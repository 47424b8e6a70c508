"""Task states with SwarmKit's numeric values, and what each one means.

The values are 64 apart so that states could be inserted later; their numeric order
is the order a task moves in: a task's observed state only ever increases, and so
does its desired state. REMOVE (800) is a desired state only: the orchestrator asks
for it on scale-down and service removal, and no task is ever observed in it.
"""

from __future__ import annotations

import enum


class TaskState(enum.IntEnum):
    """A task's observed or desired state; Docker's JSON spells it in lowercase."""

    NEW = 0
    PENDING = 64
    ASSIGNED = 192
    ACCEPTED = 256
    PREPARING = 320
    READY = 384
    STARTING = 448
    RUNNING = 512
    COMPLETE = 576
    SHUTDOWN = 640
    FAILED = 704
    REJECTED = 768
    REMOVE = 800
    ORPHANED = 832

    @property
    def wire_name(self) -> str:
        """The name as Docker's Engine API and CLI print it (``running``)."""
        return self.name.lower()

    @classmethod
    def from_wire(cls, name: str) -> TaskState:
        return cls[name.upper()]

    def is_terminal(self) -> bool:
        """Past RUNNING: the task will never run (again)."""
        return self > TaskState.RUNNING


#: States a task can be observed in (all but REMOVE).
OBSERVED_STATES: tuple[TaskState, ...] = tuple(s for s in TaskState if s is not TaskState.REMOVE)

#: States the manager may ask for. NEW tasks are created desiring RUNNING; restart
#: and update replacements desire READY until started; jobs desire COMPLETE.
DESIRED_STATES: tuple[TaskState, ...] = (
    TaskState.READY,
    TaskState.RUNNING,
    TaskState.COMPLETE,
    TaskState.SHUTDOWN,
    TaskState.REMOVE,
)
