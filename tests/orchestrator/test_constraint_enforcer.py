"""The constraint enforcer: a node that changed, its tasks, and who is rejected."""

from __future__ import annotations

from core.model import Labels
from core.model.common import ResourceRequirements, Resources
from core.model.enums import NodeAvailability
from core.model.node import Node, NodeDescription, NodeSpec
from core.model.service import Placement, Service, ServiceSpec, TaskSpec
from core.model.task import Task, TaskStatus
from core.orchestrator.constraint_enforcer import REJECTED_ERR, REJECTED_MESSAGE, rejections
from core.tasks.states import TaskState
from tests.scheduler.support import named

S = TaskState
GiB = 1 << 30


def node(
    availability: NodeAvailability = NodeAvailability.ACTIVE, memory: int = 4 * GiB, **labels: str
) -> Node:
    return Node(
        id="n1",
        spec=NodeSpec(availability=availability, labels=Labels(labels)),
        description=NodeDescription(
            resources=Resources(
                nano_cpus=4_000_000_000,
                memory_bytes=memory,
                generic_resources=(named("gpu", "g0"),),
            )
        ),
    )


def task(n: int, memory: int = 0, constraints: tuple[str, ...] = (), **options: object) -> Task:
    spec = TaskSpec(
        placement=Placement(constraints=constraints),
        resources=ResourceRequirements(reservations=Resources(memory_bytes=memory))
        if memory
        else None,
    )
    fields: dict[str, object] = {
        "id": f"t{n}",
        "service_id": "web",
        "node_id": "n1",
        "spec": spec,
        "status": TaskStatus(state=S.RUNNING),
        "desired_state": S.RUNNING,
    }
    fields.update(options)
    return Task(**fields)  # type: ignore[arg-type]


def service(*constraints: str) -> Service:
    return Service(
        id="web",
        spec=ServiceSpec(
            name="web", task_template=TaskSpec(placement=Placement(constraints=constraints))
        ),
    )


def test_a_label_removed_from_the_node_rejects_the_tasks_that_needed_it() -> None:
    tasks = [task(1), task(2)]
    [rejected, other] = rejections(node(), tasks, {"web": service("node.labels.disk==ssd")}, 9.0)
    assert (rejected.status.state, rejected.status.message, rejected.status.err) == (
        S.REJECTED,
        REJECTED_MESSAGE,
        REJECTED_ERR,
    )
    assert rejected.status.timestamp.seconds() == 9.0 and other.id == "t2"
    assert rejections(node(disk="ssd"), tasks, {"web": service("node.labels.disk==ssd")}, 9.0) == ()


def test_the_current_service_constraints_win_over_the_tasks_copy() -> None:
    stale = task(1, constraints=("node.labels.disk==ssd",))
    assert rejections(node(), [stale], {"web": service()}, 0.0) == ()
    assert [t.id for t in rejections(node(), [stale], {}, 0.0)] == ["t1"]  # no service: its own


def test_tasks_past_what_the_node_still_has_are_rejected_in_id_order() -> None:
    tasks = [task(3, memory=GiB), task(1, memory=2 * GiB), task(2, memory=2 * GiB)]
    assert [t.id for t in rejections(node(memory=4 * GiB), tasks, {}, 0.0)] == ["t3"]


def test_a_generic_resource_the_node_lost_rejects_its_task() -> None:
    holder = task(1, generic_resources=(named("gpu", "g7"),))
    assert [t.id for t in rejections(node(), [holder], {}, 0.0)] == ["t1"]
    kept = task(1, generic_resources=(named("gpu", "g0"),))
    assert (
        rejections(node(), [kept, task(2, generic_resources=(named("gpu", "g0"),))], {}, 0.0)[0].id
        == "t2"
    )


def test_only_active_nodes_and_live_tasks_are_checked() -> None:
    services = {"web": service("node.labels.disk==ssd")}
    for availability in (NodeAvailability.PAUSE, NodeAvailability.DRAIN):
        assert rejections(node(availability), [task(1)], services, 0.0) == ()
    finished = task(1, status=TaskStatus(state=S.COMPLETE))
    leaving = task(2, desired_state=S.SHUTDOWN)
    elsewhere = task(3, node_id="n2")
    assert rejections(node(), [finished, leaving, elsewhere], services, 0.0) == ()
