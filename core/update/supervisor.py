"""The leader's update supervisor: one :class:`~core.update.updater.Updater` per
service (SwarmKit's ``update.Supervisor``).

Every reconcile of a service hands its running slots here. An updater already
working toward the same spec carries on; one toward another is cancelled and a
new one starts. A service whose update is paused (or whose rollback is) is left
alone until an update clears its status. With no dirty slot, an update in
progress is marked complete; otherwise one starts (UPDATING, when the service has
no status yet).
"""

from __future__ import annotations

import random

from core.manager.writes import WriteQueue
from core.model.enums import UpdateState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.store import Event, WriteTx
from core.update.dirty import Slot, is_slot_dirty
from core.update.updater import IN_PROGRESS, StartLater, TasksIn, Updater

PAUSED = (UpdateState.PAUSED, UpdateState.ROLLBACK_PAUSED)


class UpdateSupervisor:
    def __init__(
        self, writes: WriteQueue, start_later: StartLater, tasks_in: TasksIn, rng: random.Random
    ) -> None:
        self.writes = writes
        self.start_later = start_later
        self.tasks_in = tasks_in
        self.rng = rng
        self.updaters: dict[str, Updater] = {}

    def update(
        self,
        tx: WriteTx,
        service: Service,
        slots: tuple[Slot, ...],
        mono: float,
        wall: float,
    ) -> None:
        """The orchestrator's hook, called as it reconciles ``service``."""
        running = self.updaters.get(service.id)
        if running is not None and not running.settled:
            if running.spec == service.spec and running.spec_version == service.spec_version:
                return  # already working toward this (or writing how it ended)
            running.cancel()
        self.updaters.pop(service.id, None)
        status = service.update_status
        if status is not None and status.state in PAUSED:
            return
        nodes = {
            t.node_id: n
            for slot in slots
            for t in slot
            if t.node_id and isinstance(n := tx.get("nodes", t.node_id), Node)
        }
        dirty = [slot for slot in slots if is_slot_dirty(service, slot, nodes)]
        is_global = service.spec.mode.name in ("global", "global-job")
        updater = Updater(
            service,
            dirty,
            self.writes,
            self.start_later,
            self.tasks_in,
            self.rng,
            is_global=is_global,
        )
        if not dirty:
            if status is not None and status.state in IN_PROGRESS:
                updater.complete(wall)
            return
        if status is None:
            self.writes.submit(updater.start_write(wall))
        self.updaters[service.id] = updater
        updater.begin(mono, wall)

    def on_event(self, event: Event, mono: float, wall: float) -> None:
        if event.table == "services" and event.new is None:
            gone = self.updaters.pop(event.object.id, None)
            if gone is not None:
                gone.cancel()
        elif event.table == "tasks":
            task = event.object
            assert isinstance(task, Task)
            updater = self.updaters.get(task.service_id)
            if updater is not None:
                old, new = event.old, event.new
                assert old is None or isinstance(old, Task)
                assert new is None or isinstance(new, Task)
                updater.on_task(old, new, mono, wall)

    def tick(self, mono: float, wall: float) -> None:
        for service_id in sorted(self.updaters):
            self.updaters[service_id].tick(mono, wall)
        for service_id in [s for s in sorted(self.updaters) if self.updaters[s].settled]:
            del self.updaters[service_id]

    def stop(self) -> None:
        for service_id in sorted(self.updaters):
            self.updaters[service_id].cancel()
        self.updaters.clear()

    @property
    def next_deadline(self) -> float | None:
        deadlines = [u.next_deadline for u in self.updaters.values()]
        return min((d for d in deadlines if d is not None), default=None)
