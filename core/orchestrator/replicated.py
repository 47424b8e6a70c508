"""The replicated orchestrator's reconcile: from a service and its tasks, what to
create, what to remove and which slots the updater should look at (SwarmKit's
``orchestrator/replicated/services.go``).

A service's tasks are grouped by slot. A slot is *running* while it has a task
desired to run (desired state at most RUNNING), or when its newest task stopped
and will not be restarted (a finished task under ``on-failure``: the slot still
counts, and a rolling update still reaches it); any other slot is *dead*.

- **Scale up**: new tasks go in the lowest slot numbers (from 1) that have no
  running task; the dead slots not reused are removed.
- **Scale down**: the slots to keep are chosen to balance nodes: running tasks
  before others, then each slot ranked as the n-th copy of the service on its node
  (1, 2, 3, ...; a slot with no node, or several tasks, last), lower slot numbers
  first among equals. The rest, and the dead slots, get desired state REMOVE: the
  agent stops them and the reaper deletes them. Like SwarmKit, this ignores
  placement preferences (swarmkit#2320).
- **Equal**: the dead slots are removed.

Every running slot that is kept goes to the updater, which decides what is out
of date. Order is deterministic: slots in number order, tasks by id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.model.defaults import effective_replicas
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState

Slot = tuple[Task, ...]  # the tasks of one slot, by id


@dataclass(frozen=True, slots=True)
class ReplicatedPlan:
    """What reconciling a replicated service asks for."""

    create_slots: tuple[int, ...]  # make a new task in each of these slots
    remove: tuple[Task, ...]  # set desired REMOVE (extra and dead slots)
    update: tuple[Slot, ...]  # the kept running slots, for the updater


def slots_of(tasks: Iterable[Task]) -> dict[int, Slot]:
    grouped: dict[int, list[Task]] = {}
    for task in tasks:
        grouped.setdefault(task.slot, []).append(task)
    return {slot: tuple(sorted(grouped[slot], key=lambda t: t.id)) for slot in sorted(grouped)}


def runnable(slot: Slot, restartable: Callable[[Task], bool]) -> Slot:
    """The tasks of a slot that make it running; empty if the slot is dead."""
    wanted = tuple(t for t in slot if t.desired_state <= TaskState.RUNNING)
    if wanted:
        return wanted
    # A slot whose newest task finished for good (its policy says no restart) stays
    # as it is; one whose newest task is only being shut down needs a new one.
    newest = max(slot, key=lambda t: (t.created_at.unix_ns, t.id))
    finished = newest.status.state > TaskState.RUNNING and not restartable(newest)
    return (newest,) if finished else ()


def reconcile(
    service: Service, tasks: Iterable[Task], restartable: Callable[[Task], bool]
) -> ReplicatedPlan:
    """``restartable(task)``: whether the restart supervisor would replace a task
    that stopped (its policy and history)."""
    running: dict[int, Slot] = {}
    dead: dict[int, Slot] = {}
    for number, slot in slots_of(tasks).items():
        alive = runnable(slot, restartable)
        if alive:
            running[number] = alive
        else:
            dead[number] = slot
    specified = effective_replicas(service.spec)
    if specified > len(running):
        create: list[int] = []
        number = 0
        while len(create) < specified - len(running):
            number += 1
            if number not in running:
                create.append(number)
                dead.pop(number, None)  # a reused dead slot's old tasks stay as history
        return ReplicatedPlan(
            create_slots=tuple(create),
            remove=_tasks_of(dead),
            update=tuple(running.values()),
        )
    kept = _balanced(running)
    return ReplicatedPlan(
        create_slots=(),
        remove=_tasks_of(dead) + tuple(t for s in kept[specified:] for t in s),
        update=tuple(kept[:specified]),
    )


def _balanced(running: dict[int, Slot]) -> list[Slot]:
    """Running slots best-kept first: running tasks first, then fewest copies of the
    service on the same node, then lower slot numbers."""
    by_state = sorted(
        running.items(), key=lambda item: (item[1][0].status.state != TaskState.RUNNING, item[0])
    )
    copies: dict[str, int] = {}
    ranked: list[tuple[int, int, Slot]] = []
    for position, (_, slot) in enumerate(by_state):
        if len(slot) == 1 and slot[0].node_id:
            copies[slot[0].node_id] = copies.get(slot[0].node_id, 0) + 1
            rank = copies[slot[0].node_id]
        else:
            rank = 1 << 30  # no node, or several tasks at once: remove these first
        ranked.append((rank, position, slot))
    return [slot for _, _, slot in sorted(ranked, key=lambda r: (r[0], r[1]))]


def _tasks_of(slots: dict[int, Slot]) -> tuple[Task, ...]:
    return tuple(
        task
        for number in sorted(slots)
        for task in slots[number]
        if task.desired_state < TaskState.REMOVE
    )
