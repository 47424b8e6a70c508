"""The agent's status reports when the leader acknowledges slowly: it acknowledges a
report only once its writes commit, which may take longer than the agent's resend
period; the ack of an earlier report must still clear what that report carried."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.agent.agent import REPORTS_TRACKED, STATUS_RESEND_SECONDS, Agent
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
    agent.report_status("t1", running)
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


def status(state: TaskState, at: float) -> TaskStatus:
    return TaskStatus(timestamp=Timestamp.from_seconds(at), state=state)


def reported(agent: Agent, now: float) -> list[StatusReport]:
    return [m for _, m in agent.tick(now, now).messages if isinstance(m, StatusReport)]


def test_a_report_another_ack_covered_does_not_hold_back_the_next() -> None:
    """Sweep seed 5454: reports 1 and 2 carried the same statuses, 1's ack cleared
    them, 2's never came; a new status then waited on report 2 for good (and with
    nothing left to resend, no resend was armed)."""
    agent = registered_agent()
    agent.report_status("t1", status(TaskState.RUNNING, 1))
    assert [r.sequence for r in reported(agent, 0.1)] == [1]
    assert [r.sequence for r in reported(agent, 0.1 + STATUS_RESEND_SECONDS)] == [2]  # resent
    agent.receive("m", StatusAck("s1", 1), 2.2, 2.2)  # 2's ack is lost
    assert agent.flush().messages == [] and not agent.statuses
    assert agent.report_sent == {}  # report 2 carried nothing 1's ack left pending
    agent.report_status("t2", status(TaskState.RUNNING, 3))
    [fresh] = reported(agent, 3.0)
    assert fresh.statuses == (("t2", agent.statuses["t2"]),)


def new_status(agent: Agent, task_id: str, at: float) -> None:
    agent.report_status(task_id, status(TaskState.RUNNING, at))


def sent(agent: Agent, *sends: tuple[str, float]) -> None:
    """Each (task, when): a new status of the task, reported at that moment."""
    for at, (task_id, now) in enumerate(sends, start=1):
        new_status(agent, task_id, at)
        reported(agent, now)


def test_a_fresh_status_does_not_wait_for_an_earlier_reports_ack() -> None:
    """Reports are pipelined: the leader acks once a report's writes commit, and a
    status that waited for that would miss the dispatcher's next flush."""
    agent = registered_agent()
    new_status(agent, "t1", 1)
    assert [r.sequence for r in reported(agent, 0.1)] == [1]
    new_status(agent, "t2", 2)
    [second] = reported(agent, 0.2)  # report 1 is still unacknowledged
    assert second.sequence == 2 and dict(second.statuses).keys() == {"t2"}


def test_with_every_tracked_report_in_flight_a_fresh_status_goes_with_the_resend() -> None:
    agent = registered_agent()
    for n in range(REPORTS_TRACKED):
        new_status(agent, f"t{n}", 1)
        assert len(reported(agent, 0.1)) == 1
    new_status(agent, "late", 2)
    assert reported(agent, 0.2) == []  # held back: as many in flight as are tracked...
    [resent] = reported(agent, 0.1 + STATUS_RESEND_SECONDS)  # ...until the resend
    assert len(resent.statuses) == REPORTS_TRACKED + 1
    assert "late" in dict(resent.statuses)


def test_acks_of_later_reports_do_not_put_off_the_resend_of_an_earlier_one() -> None:
    agent = registered_agent()
    sent(agent, ("t1", 0.1), ("t2", 1.5))
    agent.receive("m", StatusAck("s1", 1), 2.0, 2.0)  # report 2 is still in flight
    assert agent.flush().messages == []
    assert sorted(agent.report_sent) == [2]  # t2 is still pending: 2 stays tracked
    assert reported(agent, 3.45) == []  # t2 went out at 1.5: not due yet
    [resent] = reported(agent, 1.5 + STATUS_RESEND_SECONDS)  # 2's ack never came
    assert dict(resent.statuses).keys() == {"t2"}


def test_the_resend_waits_on_the_status_that_went_out_longest_ago() -> None:
    agent = registered_agent()
    sent(agent, ("t1", 0.1), ("t2", 1.0), ("t1", 1.5))  # t2's send is now the oldest
    assert reported(agent, 2.95) == []
    [resent] = reported(agent, 1.0 + STATUS_RESEND_SECONDS)
    assert dict(resent.statuses).keys() == {"t1", "t2"}


def test_a_lost_report_is_resent_while_the_acks_of_others_keep_coming() -> None:
    """Pipelined reports: t0's report is lost, every later one is acknowledged at
    once; t0 must still go again STATUS_RESEND_SECONDS after it went out."""
    agent = registered_agent()
    new_status(agent, "t0", 0)
    [lost] = reported(agent, 0.1)
    resent_at = None
    for n in range(1, 20):
        now = round(0.1 + n * 0.25, 2)
        new_status(agent, f"t{n}", now)
        for report in reported(agent, now):
            if "t0" in dict(report.statuses):
                resent_at = now
                break
            agent.receive("m", StatusAck("s1", report.sequence), now, now)
        if resent_at is not None:
            break
    assert lost.sequence == 1
    assert resent_at is not None and resent_at <= 0.1 + STATUS_RESEND_SECONDS + 0.25


def tracked_after_ack(agent: Agent, sequence: int) -> list[int]:
    """The reports the ack of ``sequence`` should leave tracked, by the rule stated
    plainly: the acknowledged one goes, its statuses stop pending, and so does every
    report none of whose (task, status) pairs is still pending."""
    reports = {seq: dict(batch) for seq, batch in agent.report_sent.items()}
    pending = dict(agent.statuses)
    for task_id, sent in reports.pop(sequence, {}).items():
        if pending.get(task_id) == sent:
            del pending[task_id]
    return sorted(seq for seq, batch in reports.items() if batch.items() & pending.items())


#: What happens next to one agent: a task's new status, a tick (time passes, reports go
#: out), or the ack of the n-th report sent so far.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.integers(0, 3)),
        st.tuples(st.just("tick"), st.sampled_from([0.1, 1.0, STATUS_RESEND_SECONDS])),
        st.tuples(st.just("ack"), st.integers(0, 40)),
    ),
    max_size=40,
)


@given(STEPS)
def test_an_ack_drops_exactly_the_reports_it_left_carrying_nothing_pending(
    steps: list[tuple[str, float]],
) -> None:
    """The agent finds covered reports from the statuses that stopped pending, not by
    walking every tracked report; it must drop the same ones the plain rule does."""
    agent = registered_agent()
    now, at, sent = 0.0, 0, []
    for kind, value in steps:
        if kind == "status":
            at += 1
            agent.report_status(f"t{value}", status(TaskState.RUNNING, at))
        elif kind == "tick":
            now = round(now + value, 2)
            messages = agent.tick(now, now).messages
            sent += [m.sequence for _, m in messages if isinstance(m, StatusReport)]
            for _, message in messages:
                if isinstance(message, Heartbeat):
                    agent.receive("m", HeartbeatAck("s1", 5.0, 0, ("m",)), now, now)
        elif sent:
            sequence = sent[int(value) % len(sent)]
            expected, last = tracked_after_ack(agent, sequence), agent.report_seq
            agent.receive("m", StatusAck("s1", sequence), now, now)  # may send a report
            assert [seq for seq in sorted(agent.report_sent) if seq <= last] == expected
        agent.flush()
