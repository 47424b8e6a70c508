"""Tasks: one slot of a service on one node, in the shape of ``swarm.Task``."""

from __future__ import annotations

from core.model.common import GenericResource, StoredObject, Version
from core.model.enums import PublishMode
from core.model.network import NetworkAttachment
from core.model.service import Endpoint, PortConfig, TaskSpec
from core.model.timestamp import GO_ZERO_TIME, Timestamp
from core.model.wire import Labels, WireModel, model, wire
from core.tasks.states import TaskState


@model
class ContainerStatus(WireModel):
    container_id: str = wire("ContainerID", omitempty=False, default="")
    pid: int = wire("PID", omitempty=False, default=0)
    exit_code: int = wire("ExitCode", omitempty=False, default=0)


@model
class PortStatus(WireModel):
    ports: tuple[PortConfig, ...] = wire("Ports", default=())


@model
class TaskStatus(WireModel):
    """What the agent last reported: state, a message, an error, the container."""

    timestamp: Timestamp = wire("Timestamp", default=GO_ZERO_TIME)
    state: TaskState = wire("State", default=TaskState.NEW)
    message: str = wire("Message", default="")
    err: str = wire("Err", default="")
    container_status: ContainerStatus | None = wire("ContainerStatus", default=None)
    port_status: PortStatus = wire("PortStatus", default_factory=PortStatus)


@model
class VolumeAttachment(WireModel):
    id: str = wire("ID", omitempty=False, default="")
    source: str = wire("Source", omitempty=False, default="")
    target: str = wire("Target", omitempty=False, default="")


@model
class Task(StoredObject):
    """A task: its spec (a copy of the service's template), where it runs and how."""

    name: str = wire("Name", default="")
    labels: Labels = wire("Labels", omitempty=False, default_factory=Labels)
    spec: TaskSpec = wire("Spec", default_factory=TaskSpec)
    service_id: str = wire("ServiceID", default="")
    slot: int = wire("Slot", default=0)
    node_id: str = wire("NodeID", default="")
    status: TaskStatus = wire("Status", default_factory=TaskStatus)
    desired_state: TaskState = wire("DesiredState", default=TaskState.RUNNING)
    networks_attachments: tuple[NetworkAttachment, ...] = wire("NetworksAttachments", default=())
    generic_resources: tuple[GenericResource, ...] = wire("GenericResources", default=())
    job_iteration: Version | None = wire("JobIteration", default=None)
    volumes: tuple[VolumeAttachment, ...] = wire("Volumes", default=())
    # SwarmKit's own fields, which the Engine API leaves out of its JSON (so they are
    # written only when set): the service spec version the task was made from, which
    # the scheduler groups tasks by, and the service's endpoint as the task was made,
    # which carries the host-mode ports the scheduler must find free on a node.
    spec_version: Version | None = wire("SpecVersion", default=None)
    endpoint: Endpoint | None = wire("Endpoint", default=None)


def host_mode_ports(task: Task) -> tuple[PortConfig, ...]:
    """The ports the task publishes on its node's own interfaces (mode host)."""
    ports = task.endpoint.ports if task.endpoint is not None else ()
    return tuple(p for p in ports if p.publish_mode is PublishMode.HOST)


def needs_sandbox(task: Task) -> bool:
    """Whether the task's container gets a network sandbox made before it: a task on
    overlay networks, or publishing ports in host mode (real/agent/sandbox.py makes
    it; the simulated dockerd charges its cost)."""
    return bool(task.networks_attachments) or bool(host_mode_ports(task))


def container_name(task: Task, service_name: str) -> str:
    """Docker's container name of a task (SwarmKit's ``naming.Task``):
    ``<service>.<slot>.<task id>``, the node id in place of the slot for a global
    service's task (slot 0); the task's own name when it has one. An unknown service
    name falls back to the service id."""
    if task.name:
        return task.name
    slot = str(task.slot) if task.slot else task.node_id
    return f"{service_name or task.service_id}.{slot}.{task.id}"
