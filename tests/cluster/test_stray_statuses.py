"""An agent never goes back to a status older than one it reported (issue 15, item 13).

The agent keeps each assigned task in its durable store, so that after a restart it
knows its tasks. The manager's copy of a task carries the last status the manager
committed, which lags the agent's own: SwarmKit's agent stores the two apart and its
own status wins. Storing the manager's copy whole put a task the agent had shut down
back at RUNNING on disk; once the host restarted, the agent inspected the dead
container and reported COMPLETE after SHUTDOWN, a report only the dispatcher's
"never lower a state" check kept out of the store (the fault sweep's seed 5028).
"""

from __future__ import annotations

import random

from core.agent.agent import Agent, AgentOutput
from core.messages import AssignmentsMessage, Registered
from core.model import replace
from core.model.node import NodeDescription
from core.model.task import Task, TaskStatus
from core.tasks.executor import ExecutorResult, Operation, OperationResult, Outcome
from core.tasks.states import TaskState

S = TaskState


def assign(agent: Agent, sequence: int, task: Task, now: float) -> AgentOutput:
    message = AssignmentsMessage("s1", sequence, sequence == 1, (task,), ())
    agent.receive("a", message, now, now)
    return agent.flush()


def answer(agent: Agent, out: AgentOutput, now: float) -> AgentOutput:
    """Every command of ``out`` but WAIT succeeds at ``now``; what the agent does next."""
    done = AgentOutput()
    for command in out.commands:
        if command.operation is not Operation.WAIT:
            result = ExecutorResult(command.token, command.operation, OperationResult(Outcome.OK))
            more = agent.executor_result(result, now, now)
            done.commands += more.commands
            done.writes += more.writes
    return done


def stored(writes: AgentOutput) -> TaskStatus | None:
    """The status of the last write of task t1 to the agent's durable store."""
    last = [w.task for w in writes.writes if w.task_id == "t1"][-1]
    return last.status if last is not None else None


def test_the_agent_stores_its_own_status_not_the_managers_older_copy() -> None:
    agent = Agent("n1", ("a",), NodeDescription(hostname="w"), random.Random(1))
    agent.start(0.0, 0.0)
    agent.receive("a", Registered("n1", "s1", 5.0, ("a",)), 0.0, 0.0)
    agent.flush()
    task = Task(id="t1", node_id="n1", status=TaskStatus(state=S.ASSIGNED))
    out = assign(agent, 1, task, 1.0)
    out = answer(agent, out, 2.0)  # prepared
    answer(agent, out, 3.0)  # started: RUNNING, waiting
    assert agent.controllers["t1"].task.status.state is S.RUNNING
    # The manager has committed RUNNING and now wants the task shut down.
    running = replace(task, status=TaskStatus(state=S.RUNNING), desired_state=S.SHUTDOWN)
    assign(agent, 2, running, 3.5)  # the wait is cancelled; the stop follows 1 s later
    shut = stored(answer(agent, agent.tick(4.5, 4.5), 4.5))
    assert shut is not None and shut.state is S.SHUTDOWN
    # The manager's next copy still says RUNNING: SHUTDOWN has not committed yet.
    again = stored(assign(agent, 3, running, 4.8))
    assert again is not None and again.state is S.SHUTDOWN
