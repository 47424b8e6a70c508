"""A node's assignment set: the whole set first, then only what the agent must know."""

from __future__ import annotations

from core.dispatcher.assignments import AssignmentKind, AssignmentSet
from core.model import replace
from core.model.common import Version
from core.model.service import ContainerSpec, TaskSpec
from core.model.task import Task, TaskStatus
from core.tasks.states import TaskState

S = TaskState


def task(n: int, state: TaskState = S.ASSIGNED, node: str = "n1") -> Task:
    return Task(
        id=f"t{n}",
        node_id=node,
        spec=TaskSpec(container_spec=ContainerSpec(image="web:1")),
        status=TaskStatus(state=state),
    )


def test_the_first_message_is_the_whole_set_of_assigned_tasks() -> None:
    tasks = [task(2), task(1, S.RUNNING), task(3, S.PENDING), task(4, node="n2")]
    message = AssignmentSet("n1").next_message(tasks)
    assert message is not None and message.kind is AssignmentKind.COMPLETE
    assert [t.id for t in message.updates] == ["t1", "t2"] and message.removes == ()


def test_later_messages_carry_only_changes() -> None:
    assignments = AssignmentSet("n1")
    running = task(1, S.RUNNING)
    assignments.next_message([running])
    assert assignments.next_message([running]) is None
    new = task(2)
    message = assignments.next_message([running, new])
    assert message is not None and message.kind is AssignmentKind.INCREMENTAL
    assert [t.id for t in message.updates] == ["t2"] and message.removes == ()


def test_the_agents_own_reports_are_not_news_but_what_it_must_do_is() -> None:
    assignments = AssignmentSet("n1")
    started = task(1, S.STARTING)
    assignments.next_message([started])
    reported = replace(started, status=TaskStatus(state=S.RUNNING), version=Version(index=9))
    assert assignments.next_message([reported]) is None
    stop = replace(reported, desired_state=S.SHUTDOWN)
    message = assignments.next_message([stop])
    assert message is not None and [t.desired_state for t in message.updates] == [S.SHUTDOWN]


def test_a_task_still_assigned_is_sent_again_on_any_change() -> None:
    assignments = AssignmentSet("n1")
    assigned = task(1)
    assignments.next_message([assigned])
    accepted = replace(assigned, status=TaskStatus(state=S.ACCEPTED))
    message = assignments.next_message([accepted])
    assert message is not None and message.updates == (accepted,)


def test_a_task_that_leaves_the_store_or_the_node_is_removed() -> None:
    assignments = AssignmentSet("n1")
    assignments.next_message([task(1, S.RUNNING), task(2, S.FAILED)])
    message = assignments.next_message([task(1, S.RUNNING)])
    assert message is not None and message.removes == ("t2",) and message.updates == ()
