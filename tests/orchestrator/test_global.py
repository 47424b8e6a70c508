"""The global orchestrator's reconcile: nodes and tasks in, the exact plan out."""

from __future__ import annotations

from core.model import Labels
from core.model.enums import NodeAvailability, NodeState
from core.model.node import Node, NodeSpec, NodeStatus
from core.model.service import (
    GlobalJob,
    GlobalService,
    Placement,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.task import Task, TaskStatus
from core.orchestrator.global_ import reconcile
from core.tasks.states import TaskState

S = TaskState


def glob(constraints: tuple[str, ...] = (), job: bool = False) -> Service:
    mode = ServiceMode(global_job=GlobalJob()) if job else ServiceMode(global_=GlobalService())
    template = TaskSpec(placement=Placement(constraints=constraints))
    return Service(id="agent", spec=ServiceSpec(name="agent", mode=mode, task_template=template))


def node(
    node_id: str,
    availability: NodeAvailability = NodeAvailability.ACTIVE,
    state: NodeState = NodeState.READY,
    **labels: str,
) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(availability=availability, labels=Labels(labels)),
        status=NodeStatus(state=state),
    )


def task(node_id: str, state: TaskState = S.RUNNING, desired: TaskState = S.RUNNING) -> Task:
    return Task(
        id=f"t-{node_id}-{state.wire_name}",
        service_id="agent",
        node_id=node_id,
        status=TaskStatus(state=state),
        desired_state=desired,
    )


def always(_: Task) -> bool:
    return True


def test_every_eligible_node_gets_one_task() -> None:
    plan = reconcile(glob(), [task("n2")], [node("n1"), node("n2"), node("n3")], always)
    assert plan.create_nodes == ("n1", "n3")
    assert [s[0].node_id for s in plan.update] == ["n2"]
    assert plan.shutdown == ()


def test_drained_down_and_deleted_nodes_lose_their_tasks() -> None:
    nodes = [node("n1", NodeAvailability.DRAIN), node("n2", state=NodeState.DOWN)]
    tasks = [task("n1"), task("n2"), task("gone")]
    plan = reconcile(glob(), tasks, nodes, always)
    assert [t.node_id for t in plan.shutdown] == ["gone", "n1", "n2"]
    assert plan.create_nodes == () and plan.update == ()


def test_a_paused_node_keeps_its_task_and_gets_none_new() -> None:
    plan = reconcile(
        glob(),
        [task("n1")],
        [node("n1", NodeAvailability.PAUSE), node("n2", NodeAvailability.PAUSE)],
        always,
    )
    assert (plan.create_nodes, plan.shutdown, plan.update) == ((), (), ())


def test_only_nodes_matching_the_constraints_run_it() -> None:
    nodes = [node("n1", disk="ssd"), node("n2", disk="hdd"), node("n3")]
    plan = reconcile(glob(("node.labels.disk==ssd",)), [task("n2")], nodes, always)
    assert plan.create_nodes == ("n1",)
    assert [t.node_id for t in plan.shutdown] == ["n2"]  # it no longer matches


def test_a_failed_task_whose_restart_is_due_counts_as_missing() -> None:
    failed = task("n1", S.FAILED, S.SHUTDOWN)
    assert reconcile(glob(), [failed], [node("n1")], always).create_nodes == ("n1",)
    assert reconcile(glob(), [failed], [node("n1")], lambda t: False).create_nodes == ()


def test_a_global_job_that_completed_on_a_node_is_not_run_again() -> None:
    done = task("n1", S.COMPLETE, S.COMPLETE)
    plan = reconcile(glob(job=True), [done], [node("n1"), node("n2")], lambda t: False)
    assert plan.create_nodes == ("n2",)
    assert [s[0].id for s in plan.update] == [done.id]
