"""How a task's container is named and labelled, as Docker's swarm executor does it.

The labels tie a container to its task: an agent that restarts finds its containers
by :data:`TASK_ID` alone, without any state of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.model.task import Task, container_name

TASK = "com.docker.swarm.task"
TASK_ID = "com.docker.swarm.task.id"
TASK_NAME = "com.docker.swarm.task.name"
SERVICE_ID = "com.docker.swarm.service.id"
SERVICE_NAME = "com.docker.swarm.service.name"
NODE_ID = "com.docker.swarm.node.id"


def task_name(task: Task, service_name: str) -> str:
    """Docker's container name of the task (see :func:`core.model.task.container_name`)."""
    return container_name(task, service_name)


def container_labels(task: Task, service_name: str) -> dict[str, str]:
    """The container's labels: the spec's, then Docker's swarm labels (which win)."""
    spec = task.spec.container_spec
    labels: dict[str, str] = dict(spec.labels) if spec is not None else {}
    labels.update(
        {
            TASK: "",
            TASK_ID: task.id,
            TASK_NAME: task_name(task, service_name),
            NODE_ID: task.node_id,
            SERVICE_ID: task.service_id,
            SERVICE_NAME: service_name or task.service_id,
        }
    )
    return labels


def task_id_of(labels: Mapping[str, str] | None) -> str:
    """The task a container belongs to, from its labels ("" for none)."""
    return (labels or {}).get(TASK_ID, "")
