"""Building simulated swarms for the acceptance tests."""

from __future__ import annotations

from core.model.enums import NodeState
from core.model.service import (
    ContainerSpec,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.executor import ImageBehaviour


def swarm(seed: int, managers: int = 3, workers: int = 5, **images: ImageBehaviour) -> ClusterWorld:
    config = ClusterConfig(hosts=standard_hosts(managers, workers), images=dict(images))
    world = ClusterWorld(config, seed)
    world.form_swarm()
    return world


def replicated(name: str, replicas: int, image: str = "nginx", **template: object) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        task_template=TaskSpec(container_spec=ContainerSpec(image=image), **template),  # type: ignore[arg-type]
        mode=ServiceMode(replicated=ReplicatedService(replicas=replicas)),
    )


def running(world: ClusterWorld, service_id: str) -> list[Task]:
    """The service's tasks that run and are meant to (a task on a node that went
    down keeps its last reported state, as in ``docker service ps``)."""
    return [
        t
        for t in world.tasks()
        if t.service_id == service_id
        and t.status.state is TaskState.RUNNING
        and t.desired_state <= TaskState.RUNNING
    ]


def node_id(world: ClusterWorld, host: str) -> str:
    store = world.leader_store()
    return next(n.id for n in store.tables["nodes"].values() if n.description.hostname == host)


def node_state(world: ClusterWorld, host: str) -> NodeState | None:
    store = world.leader_store()
    if store is None:
        return None
    node = store.tables["nodes"][node_id(world, host)]
    return node.status.state


def host_of(world: ClusterWorld, task: Task) -> str:
    store = world.leader_store()
    return store.tables["nodes"][task.node_id].description.hostname
