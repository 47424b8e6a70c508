"""Watching rolling updates in a simulated swarm: every task commit the trace
records, replayed into what ran when and which slots were in flight."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.model import replace
from core.model.duration import SECOND
from core.model.enums import UpdateOrder, UpdateState
from core.model.service import ContainerSpec, Service, ServiceSpec, UpdateConfig
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld

RUNNING = TaskState.RUNNING.name


@dataclass
class TaskLog:
    """Task commits of one service as (time, id, slot, state, desired), in order."""

    service_id: str
    events: list[tuple[float, str, int, str, str]] = field(default_factory=list)
    seeded: int = 0  # how many of the events are the tasks as they were when attached

    def attach(self, world: ClusterWorld) -> TaskLog:
        """Start from the service's tasks as they are, then record every commit."""
        for task in world.tasks():
            if task.service_id == self.service_id:
                self.events.append(
                    (
                        world.env.now,
                        task.id,
                        task.slot,
                        task.status.state.name,
                        task.desired_state.name,
                    )
                )
        self.seeded = len(self.events)
        emit_task = world.trace.emit_task  # every task line of the trace

        def record(time: float, host: str, **fields: Any) -> None:
            if fields["service"] == self.service_id:
                self.events.append(
                    (time, fields["id"], fields["slot"], fields["state"], fields["desired"])
                )
            emit_task(time, host, **fields)

        world.trace.emit_task = record  # type: ignore[method-assign]
        return self

    def running_counts(self, in_service: bool = False) -> list[tuple[float, int]]:
        """How many tasks were RUNNING when attached and after each commit since
        (``in_service``: only those still desired RUNNING, not told to stop)."""
        states: dict[str, tuple[str, str]] = {}
        counts = []
        for position, (time, task_id, _, state, desired) in enumerate(self.events):
            states[task_id] = (state, desired)
            if position + 1 >= self.seeded:
                count = sum(
                    1
                    for s, d in states.values()
                    if s == RUNNING and (d == RUNNING or not in_service)
                )
                counts.append((time, count))
        return counts

    def in_flight(self, new_ids: set[str]) -> list[tuple[float, float]]:
        """For each task in ``new_ids``: from its creation to its first RUNNING."""
        created: dict[str, float] = {}
        spans: dict[str, tuple[float, float]] = {}
        for time, task_id, _, state, _ in self.events:
            if task_id not in new_ids:
                continue
            created.setdefault(task_id, time)
            if state == RUNNING and task_id not in spans:
                spans[task_id] = (created[task_id], time)
        return sorted(spans.values())

    def ids(self) -> set[str]:
        return {task_id for _, task_id, _, _, _ in self.events}

    def states_of(self, task_id: str) -> list[str]:
        return [state for _, i, _, state, _ in self.events if i == task_id]


def update_config(
    parallelism: int = 1,
    delay: float = 0.0,
    order: UpdateOrder = UpdateOrder.STOP_FIRST,
    **more: Any,
) -> UpdateConfig:
    return UpdateConfig(
        parallelism=parallelism, delay_ns=round(delay * SECOND), order=order, **more
    )


def with_image(spec: ServiceSpec, image: str) -> ServiceSpec:
    template = spec.task_template
    container = template.container_spec or ContainerSpec()
    return replace(
        spec, task_template=replace(template, container_spec=replace(container, image=image))
    )


def service(world: ClusterWorld, service_id: str) -> Service:
    store = world.leader_store()
    assert store is not None
    found = store.tables["services"][service_id]
    assert isinstance(found, Service)
    return found


def update_state(world: ClusterWorld, service_id: str) -> UpdateState | None:
    status = service(world, service_id).update_status
    return status.state if status is not None else None


def images_running(world: ClusterWorld, service_id: str) -> list[str]:
    """The image of every task of the service that runs and is meant to."""
    return sorted(
        t.spec.container_spec.image if t.spec.container_spec else ""
        for t in world.tasks()
        if t.service_id == service_id
        and t.status.state is TaskState.RUNNING
        and t.desired_state <= TaskState.RUNNING
    )
