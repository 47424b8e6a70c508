"""Making tasks from a service: what every orchestrator and the restart supervisor
share (SwarmKit's ``orchestrator.NewTask``)."""

from __future__ import annotations

import random

from core.model.common import Version
from core.model.ids import new_id
from core.model.service import Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.tasks.states import TaskState


def new_task(
    service: Service,
    *,
    slot: int,
    node_id: str,
    rng: random.Random,
    wall: float,
    desired: TaskState = TaskState.RUNNING,
    job_iteration: Version | None = None,
) -> Task:
    """A NEW task of ``service``'s current spec in ``slot`` (replicated) or on
    ``node_id`` (global, preassigned), with its id drawn from ``rng``."""
    return Task(
        id=new_id(rng),
        service_id=service.id,
        slot=slot,
        node_id=node_id,
        spec=service.spec.task_template,
        spec_version=service.spec_version,
        endpoint=service.endpoint if service.endpoint.ports else None,
        job_iteration=job_iteration,
        status=TaskStatus(
            timestamp=Timestamp.from_seconds(wall), state=TaskState.NEW, message="created"
        ),
        desired_state=desired,
    )
