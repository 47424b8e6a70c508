"""The daemon's test-only faults, without hosts: the transport's delay line holds what is
sent (in order) and shows in a measured round trip over loopback, a stalled file layer
holds the WAL's group commit until the stall ends, the clock's wall steps while its
monotonic clock does not, and the test-only request is refused, naming its flag, by a
daemon started without it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from core.messages import Heartbeat, HeartbeatAck
from core.raft.types import DurableWrite, HardState
from real.clock import DaemonClock
from real.daemon import DaemonBackend
from real.files import PowerLossFiles
from real.stallfiles import StallingFiles
from real.testfaults import FLAG, TEST_FAULT, TestFaults
from real.transport.delay import DelayLine
from real.wal import DataKeys, Wal
from tests.real.test_transport import CA, nodes, run

# -- the delay line and the transport ---------------------------------------------------


def test_the_delay_line_holds_each_action_in_order() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        line = DelayLine()
        done: list[tuple[int, float]] = []
        start = loop.time()
        line.put(lambda: done.append((0, loop.time() - start)))  # no delay: at once
        line.seconds = 0.2
        for i in (1, 2, 3):
            line.put(lambda i=i: done.append((i, loop.time() - start)))
        line.seconds = 0.0  # what is sent later never overtakes what waits
        line.put(lambda: done.append((4, loop.time() - start)))
        await asyncio.sleep(0.4)
        assert [i for i, _ in done] == [0, 1, 2, 3, 4]
        assert done[0][1] < 0.05
        assert all(0.2 <= t < 0.35 for _, t in done[1:])

    run(body)


async def _round_trip(delay: float, ca: CA) -> float:
    """Seconds from a heartbeat sent by a node whose sends are delayed to its answer."""
    async with nodes(ca.issue("m1"), ca.issue("m2")) as (a, b):
        ack = HeartbeatAck("s1", 5.0, 1, (b.host,))
        a.transport.send(b.host, Heartbeat("m1", "s0"))  # connect both ways first
        b.transport.send(a.host, ack)
        await b.next()
        await a.next()
        a.transport.delay.seconds = delay
        started = time.monotonic()
        a.transport.send(b.host, Heartbeat("m1", "s1"))
        _, message = await b.next()
        b.transport.send(a.host, ack)
        await a.next()
        assert message == Heartbeat("m1", "s1")
        return time.monotonic() - started


def test_a_transport_delay_shows_in_a_measured_round_trip() -> None:
    ca = CA.make(seed=7)
    measured: dict[float, float] = {}

    async def body() -> None:
        for delay in (0.0, 0.25):
            measured[delay] = await _round_trip(delay, ca)

    run(body)
    assert measured[0.0] < 0.1
    assert 0.25 <= measured[0.25] < 0.25 + 0.2


# -- the stalled disk ---------------------------------------------------------------------


def test_a_stalled_wal_holds_a_group_commit_until_the_stall_ends() -> None:
    disk = PowerLossFiles()
    files = StallingFiles(disk)
    wal = Wal.open(files, "/data/wal", DataKeys.fresh())
    files.stall()
    wal.append(DurableWrite(seq=1, hard_state=HardState(term=1)))
    synced: list[int | None] = []
    syncing = threading.Thread(target=lambda: synced.append(wal.sync()), daemon=True)
    before = len(disk.log)
    syncing.start()
    syncing.join(0.5)
    try:
        assert syncing.is_alive() and synced == []
        assert [op.op for op in disk.log[before:]] in ([], ["create"])  # nothing written
    finally:
        files.unstall()
    syncing.join(5.0)
    assert synced == [1] and wal.durable().raft.hard_state.term == 1
    assert "fsync" in [op.op for op in disk.log[before:]]
    wal.close()


@pytest.mark.parametrize("call", ["write", "fsync", "fsync_dir"])
def test_each_write_and_fsync_waits_out_a_stall(call: str) -> None:
    disk = PowerLossFiles()
    files = StallingFiles(disk)
    files.makedirs("/d")
    handle = files.create("/d/f")
    actions = {
        "write": lambda: handle.write([b"x"]),
        "fsync": handle.fsync,
        "fsync_dir": lambda: files.fsync_dir("/d"),
    }
    files.stall()
    before = len(disk.log)
    thread = threading.Thread(target=actions[call], daemon=True)
    thread.start()
    thread.join(0.3)
    try:
        assert thread.is_alive() and len(disk.log) == before
    finally:
        files.unstall()
    thread.join(5.0)
    assert not thread.is_alive() and len(disk.log) == before + 1


# -- the clock and the request -------------------------------------------------------------


def test_a_clock_step_moves_the_wall_clock_only() -> None:
    clock = DaemonClock()
    mono = clock.mono()
    clock.step(40.0)
    clock.step(-2.0)
    assert clock.wall() - time.time() == pytest.approx(38.0, abs=0.5)
    assert clock.mono() - mono < 0.5
    clock.reset()
    assert clock.wall() - time.time() == pytest.approx(0.0, abs=0.5)


class _Driver:
    """What :class:`TestFaults` reaches of a driver."""

    def __init__(self) -> None:
        self.clock = DaemonClock()
        self.send_delay = 0.0


def _call(backend: DaemonBackend, params: dict[str, Any]) -> Any:
    return asyncio.run(backend.call(TEST_FAULT, params))


def test_test_faults_are_refused_naming_the_flag_unless_it_was_given() -> None:
    driver: Any = _Driver()
    off = DaemonBackend(driver, addresses=None)  # type: ignore[arg-type]
    reply = _call(off, {"fault": "skew", "amount": 40.0})
    assert not reply.ok and FLAG in reply.error
    assert driver.clock.offset == 0.0
    files = StallingFiles(PowerLossFiles())
    on = DaemonBackend(driver, None, TestFaults(driver, files))  # type: ignore[arg-type]
    reply = _call(on, {"fault": "skew", "amount": 40.0})
    assert reply.ok and reply.value["offset"] == 40.0
    assert reply.value["wall"] - time.time() == pytest.approx(40.0, abs=0.5)
    assert _call(on, {"fault": "delay", "amount": 0.05}).value["delay"] == 0.05
    assert _call(on, {"fault": "stall-disk", "amount": 1}).value["stalled"] is True
    assert _call(on, {"fault": "stall-disk", "amount": 0}).value["stalled"] is False
    assert _call(on, {"fault": "skew", "amount": 0}).value["offset"] == 0.0
    bad = _call(on, {"fault": "melt", "amount": 1})
    assert not bad.ok and "fault must be one of delay, skew, stall-disk" in bad.error
    assert "out of range" in _call(on, {"fault": "delay", "amount": -1}).error
