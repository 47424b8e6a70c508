"""The agent's secrets and configs: held as the dispatcher sends them, handed to the
executor with the PREPARE of a task that uses them, and a task whose secret the
node was not sent is rejected without asking the executor (SwarmKit's words)."""

from __future__ import annotations

import base64

from core.messages import AssignmentsMessage, StatusReport
from core.model.secret import Secret, SecretSpec
from core.model.service import ContainerSpec, FileTarget, SecretReference, TaskSpec
from core.model.task import Task, TaskStatus
from core.tasks.executor import Operation, TaskFile
from core.tasks.states import TaskState
from tests.dispatcher.test_agent_managers import registered_agent

SECRET = Secret(id="sec1", spec=SecretSpec(name="db_pw", data=base64.b64encode(b"pw").decode()))


def _task(task_id: str) -> Task:
    ref = SecretReference(secret_id="sec1", secret_name="db_pw", file=FileTarget(name="db"))
    return Task(
        id=task_id,
        node_id="n1",
        spec=TaskSpec(container_spec=ContainerSpec(image="nginx", secrets=(ref,))),
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.ASSIGNED),
    )


def test_a_prepare_carries_the_tasks_secret_as_a_file() -> None:
    agent = registered_agent(("a",))
    message = AssignmentsMessage("s1", 1, True, (_task("t1"),), (), secrets=(SECRET,))
    agent.receive("a", message, 1.0, 1.0)
    out = agent.flush()
    (prepare,) = [c for c in out.commands if c.operation is Operation.PREPARE]
    assert prepare.files == (TaskFile("secret", "sec1", "db_pw", "/run/secrets/db", b"pw"),)
    removed = AssignmentsMessage("s1", 2, False, (), (), secrets_removed=("sec1",))
    agent.receive("a", removed, 2.0, 2.0)
    assert agent.secrets == {}


def test_a_task_whose_secret_never_came_is_rejected_without_the_executor() -> None:
    agent = registered_agent(("a",))
    agent.receive("a", AssignmentsMessage("s1", 1, True, (_task("t2"),), ()), 1.0, 1.0)
    out = agent.flush()
    assert [c for c in out.commands if c.operation is Operation.PREPARE] == []
    reports = [m for _, m in agent.tick(2.0, 2.0).messages if isinstance(m, StatusReport)]
    ((task_id, status),) = [s for r in reports for s in r.statuses]
    assert (task_id, status.state) == ("t2", TaskState.REJECTED)
    assert status.err == "unable to get secret from secret store: secret sec1 not found"
