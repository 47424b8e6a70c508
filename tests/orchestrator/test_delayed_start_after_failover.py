"""A replacement waiting out its restart delay when the leader changes: the new leader
starts it once what is left of the delay has passed, and never later than a whole
delay from now (SwarmKit's ``InitTasks`` clamps it so), even when the task was
written by a leader whose clock ran ahead (sweep seed 150: a leader 262 s ahead
created two replacements and crashed; the next one waited 257 s to start them)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.store import WriteTx
from core.tasks.states import TaskState
from tests.dispatcher.test_dispatcher_writes import TEMPLATE, WALL, Leader, seeded_store

DELAY = 5.0  # the default restart delay


def waiting_replacement(written_at: float) -> Leader:
    """t1 failed; t2 replaces it in slot 1, desired READY, written at ``written_at``
    by the previous leader's wall clock."""
    store = seeded_store()

    def build(tx: WriteTx) -> None:
        old = tx.get("tasks", "t1")
        assert isinstance(old, Task)
        failed = TaskStatus(timestamp=Timestamp.from_seconds(written_at), state=TaskState.FAILED)
        tx.update(replace(old, status=failed, desired_state=TaskState.SHUTDOWN))
        tx.create(
            Task(
                id="t2",
                service_id="s1",
                slot=1,
                node_id="n1",
                spec=TEMPLATE,
                status=TaskStatus(
                    timestamp=Timestamp.from_seconds(written_at), state=TaskState.READY
                ),
                desired_state=TaskState.READY,
            )
        )

    store.apply(2, store.transaction(build, int(written_at * 1e9)))
    return Leader(store)


@pytest.mark.parametrize(
    ("written_at", "started_by"),
    [
        (WALL - 2.0, DELAY - 2.0),  # 3 s of the delay were left
        (WALL - 60.0, 0.0),  # long over: at once
        (WALL + 300.0, DELAY),  # from a clock 300 s ahead: a whole delay, no more
    ],
    ids=["part-left", "over", "clock-ahead"],
)
def test_a_new_leader_starts_a_waiting_replacement_within_its_delay(
    written_at: float, started_by: float
) -> None:
    leader = waiting_replacement(written_at)
    leader.start()
    if started_by > 0:
        leader.run_until(started_by - 0.5)
        assert leader.task("t2").desired_state is TaskState.READY  # not before
    leader.run_until(started_by + 0.01)
    assert leader.task("t2").desired_state is TaskState.RUNNING
