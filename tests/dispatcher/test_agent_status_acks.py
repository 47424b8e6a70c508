"""The agent's status reports when the leader acknowledges slowly: it acknowledges a
report only once its writes commit, which may take longer than the agent's resend
period; the ack of an earlier report must still clear what that report carried."""

from __future__ import annotations

import random

import pytest

from core.agent.agent import Agent
from core.messages import Heartbeat, HeartbeatAck, Registered, StatusAck, StatusReport
from core.model.node import NodeDescription
from core.model.task import TaskStatus
from core.model.timestamp import Timestamp
from core.tasks.states import TaskState

STEP = 0.05


def registered_agent() -> Agent:
    agent = Agent("n1", ("m",), NodeDescription(hostname="w"), random.Random(1))
    agent.start(0.0, 0.0)
    agent.receive("m", Registered("n1", "s1", 5.0, ("m",)), 0.0, 0.0)
    agent.receive("m", HeartbeatAck("s1", 5.0, 0, ("m",)), 0.0, 0.0)
    agent.flush()
    return agent


@pytest.mark.parametrize("latency", [0.5, 1.9, 2.5, 4.5, 9.0])
def test_a_status_is_acknowledged_however_slowly_the_leader_commits(latency: float) -> None:
    agent = registered_agent()
    running = TaskStatus(timestamp=Timestamp.from_seconds(1), state=TaskState.RUNNING)
    agent.statuses["t1"] = running
    agent.unsent.add("t1")
    agent.timers.arm("statuses", 0.0)
    acks: list[tuple[float, int]] = []  # (when the ack arrives, report sequence)
    now, acknowledged_at = 0.0, None
    while now < 60.0 and acknowledged_at is None:
        now = round(now + STEP, 2)
        for _, message in agent.tick(now, now).messages:
            if isinstance(message, StatusReport):
                acks.append((now + latency, message.sequence))
            elif isinstance(message, Heartbeat):
                agent.receive("m", HeartbeatAck("s1", 5.0, 0, ("m",)), now, now)
        for due in [a for a in acks if a[0] <= now]:
            acks.remove(due)
            agent.receive("m", StatusAck("s1", due[1]), now, now)
        agent.flush()
        if not agent.statuses:
            acknowledged_at = now
    assert acknowledged_at is not None, f"never acknowledged; tracked {sorted(agent.report_sent)}"
    assert acknowledged_at <= latency + STEP * 2  # the first report's own ack did it
