"""Issue 16, acceptance 4, the power-loss half: the real driver never acknowledges a
write a power cut could take back, and comes back from a cut that tore its last frame.

One :class:`~real.driver.Driver` in this process runs a one-node swarm against the
module's private dockerd, its WAL on :class:`~real.files.PowerLossFiles` (kill -9
keeps the page cache and proves nothing about fsync; this layer forgets every byte
not fsynced). A subclass sees each reply the instant the driver hands it to its
caller, before the caller or anything else runs, and notes what a power cut at that
instant would leave:

- every ack: the position in the file layer's log of calls (so the bytes fsynced by
  then are known afterwards), the node's applied Raft index, and whether the records
  of the reply's own envelope had been synced;
- some acks (``swarm init``'s, every ``SAMPLE``-th update's, the last one's): a copy of
  the whole file system, later cut and recovered with :meth:`Wal.open`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import real.driver
from core.manager.requests import ClientReply
from core.model import replace
from core.model.service import (
    ContainerSpec,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.wire import Labels
from core.node import NodeDisk, NodeIdentity, NodeReady
from core.raft.types import DurableWrite, EntryKind
from core.store import MemoryStore, Transaction
from real.agent import labels
from real.agent.images import IMAGE
from real.dockerd import Dockerd
from real.driver import Driver, DriverConfig, wal_records
from real.files import FileOp, PowerLossFiles
from real.wal import DataKeys, KeyFile, RaftReset, Record, Wal
from real.wal.frames import HEADER_SIZE, scan
from real.wal.records import decode_record

DATA_DIR = Path("/shoal")
WAL_DIR = str(DATA_DIR / real.driver.WAL_DIRECTORY)
# The plants this file was checked against (each made it fail, then was undone):
# replies carried out before the group commit's sync (swarm init's credentials and
# every update's envelope caught unsynced); the driver feeding ``persisted`` without
# syncing (same); the WAL skipping its fsync (every ack beyond the fsynced bytes,
# swarm init's node lost, and the armed power cut never strikes).

#: Seconds per Raft tick: a restarted lone manager is elected in 10-20 ticks.
TICK_SECONDS = 0.05
UPDATES = 500
SAMPLE = 50  # every SAMPLE-th update's ack keeps a whole durable image
CUT_AFTER = 200  # the power-loss test arms the cut after this many acks
TORN = HEADER_SIZE + 7  # bytes of the last frame that reach the disk: an intact header
OUT_OF_SEQUENCE = "update out of sequence"
#: Seconds a step may take at most (a bound on waiting, never an assertion on time).
PATIENCE = 120.0


@dataclass(frozen=True)
class Ack:
    """What a power cut at the instant of one reply would have to keep."""

    log_mark: int  # len(files.log): the file layer's calls made before the reply
    applied: int  # the node's applied Raft index: every update answered so far
    records: int  # records the reply's envelope wrote to the WAL
    unsynced: int  # those of them no sync had covered
    identity: NodeIdentity | None
    image: PowerLossFiles | None  # the whole file system, for sampled acks


class WatchedWal(Wal):
    """Remembers the records its last returned ``sync`` covered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handed: list[Record] = []
        self.last_synced: list[Record] = []

    def append(self, record: Record) -> None:
        super().append(record)
        self.handed.append(record)

    def sync(self) -> int | None:
        batch, self.handed = self.handed, []  # the driver appends nothing while it syncs
        seq = super().sync()
        self.last_synced = batch
        return seq


class WatchedDriver(Driver):
    """A driver that notes, at each reply it hands out, what is durable then."""

    def __init__(self, files: PowerLossFiles, port: int, dockerd: Dockerd) -> None:
        config = DriverConfig(
            host=f"127.0.0.1:{port}", data_dir=DATA_DIR, tick_seconds=TICK_SECONDS
        )
        super().__init__(config, dockerd.client(), files=files)
        self.power = files
        self.acks: dict[str, Ack] = {}
        self.imaging = False  # replies now keep a whole image (one call at a time)

    async def _carry_out(self, ready: NodeReady) -> None:
        await super()._carry_out(ready)  # sets the callers' results, awaiting nothing after
        for reply in ready.replies:
            self.acks[reply.id] = self._now(ready)

    def _now(self, ready: NodeReady) -> Ack:
        node, wal, records = self.node, self.wal, wal_records(ready)
        assert node is not None and isinstance(wal, WatchedWal)
        manager = node.manager
        return Ack(
            log_mark=len(self.power.log),
            applied=manager.raft.log.applied if manager is not None else 0,
            records=len(records),
            unsynced=sum(r not in wal.last_synced for r in records),
            identity=node.identity,
            image=self.power.copy() if self.imaging else None,
        )

    async def must(self, method: str, image: bool = False, **params: Any) -> ClientReply:
        self.imaging = image
        try:
            reply = await self.call(method, params)
        finally:
            self.imaging = False
        assert reply.ok, f"{method}: {reply.error}"
        return reply

    async def update_label(self, i: int, image: bool = False) -> ClientReply:
        """``service update --label-add k<i>=<i> web`` as the CLI sends it: read, edit,
        send back at the version read; read again and retry when the manager wrote the
        service in between (refused, "update out of sequence": not an acknowledgement)."""
        while True:
            current = (await self.must("ServiceInspect", service="web")).value
            assert isinstance(current, Service)
            labelled = Labels({**current.spec.labels, f"k{i}": str(i)})
            params = {
                "service": current.id,
                "version": current.version.index,
                "spec": replace(current.spec, labels=labelled),
            }
            self.imaging = image
            try:
                reply = await self.call("ServiceUpdate", params)
            finally:
                self.imaging = False
            if OUT_OF_SEQUENCE not in reply.error:
                assert reply.ok, f"ServiceUpdate: {reply.error}"
                return reply

    async def labels_now(self) -> Labels:
        service = (await self.must("ServiceInspect", service="web")).value
        assert isinstance(service, Service)
        return service.spec.labels


# -- what survives ---------------------------------------------------------------------------


def data_keys(image: PowerLossFiles) -> DataKeys:
    """The node's data keys (in the clear: these swarms have no autolock)."""
    stored = KeyFile(image, WAL_DIR).load()
    assert stored is not None and not stored.locked
    return stored.open(None)


def after_power_loss(image: PowerLossFiles) -> NodeDisk:
    """What a node restarted on ``image`` after a power cut recovers."""
    image.power_loss()
    return Wal.open(image, WAL_DIR, data_keys(image)).recovered()


def store_of(disk: NodeDisk) -> MemoryStore:
    """The store a lone manager rebuilds from ``disk``: its snapshot, then every entry
    it holds (a lone leader commits its whole log once elected)."""
    raft = disk.raft
    snapshot = raft.snapshot
    store = MemoryStore.restore(snapshot.data) if snapshot.data else MemoryStore()
    for entry in raft.entries:
        if entry.index <= snapshot.index:
            continue
        if entry.kind is EntryKind.CONF_CHANGE or not entry.data:
            store.apply_noop(entry.index)
        else:
            store.apply(entry.index, Transaction.decode(entry.data))
    return store


def service_labels(store: MemoryStore) -> Labels:
    (service,) = store.tables["services"].values()
    assert isinstance(service, Service)
    return service.spec.labels


class KeepingFiles(PowerLossFiles):
    """Power-loss files that keep the bytes of every file removed (segments a
    checkpoint covered), for reading back where each frame was written."""

    def __init__(self) -> None:
        super().__init__()
        self.removed: dict[str, bytes] = {}

    def remove(self, path: str) -> None:
        self.removed[path] = self.read(path)
        super().remove(path)

    def segments(self) -> dict[str, bytes]:
        """Every segment ever written, by path (none is re-created in these tests)."""
        kept = dict(self.removed)
        kept.update((f"{WAL_DIR}/{n}", self.read(f"{WAL_DIR}/{n}")) for n in self.list(WAL_DIR))
        return {path: kept[path] for path in sorted(kept) if path.endswith(".log")}


def entry_ends(segments: dict[str, bytes], keys: DataKeys) -> dict[int, tuple[str, int]]:
    """Raft index -> the segment, and the offset where the frame that wrote it ends."""
    ends: dict[int, tuple[str, int]] = {}
    for path, data in segments.items():
        for frame in scan(data, path, last=True, batch=0).frames[1:]:  # after the header
            record = decode_record(frame.kind, keys.open(frame.kind, frame.batch, frame.payload))
            where = (path, frame.offset + HEADER_SIZE + len(frame.payload))
            if isinstance(record, DurableWrite):
                written = record.entries
            elif isinstance(record, RaftReset):
                written = tuple(record.state.entries)
            else:
                continue
            for entry in written:
                ends.setdefault(entry.index, where)
    return ends


def fsynced_lengths(log: list[FileOp], marks: list[int]) -> list[dict[str, int]]:
    """Each file's fsynced length after the first ``mark`` calls, for each mark
    (a removed file keeps its last: what it held was durable, and is covered by the
    checkpoint that let it go)."""
    marks_left = sorted(set(marks))
    at: dict[int, dict[str, int]] = {}
    written: dict[str, int] = {}
    synced: dict[str, int] = {}
    for position, op in enumerate([*log, FileOp("end", "")]):
        while marks_left and marks_left[0] == position:
            at[marks_left.pop(0)] = dict(synced)
        if op.op == "create":
            written[op.path] = synced[op.path] = 0
        elif op.op == "write":
            written[op.path] += op.size
        elif op.op == "fsync":
            synced[op.path] = written[op.path]
        elif op.op == "truncate":
            written[op.path] = op.size
    return [at[mark] for mark in marks]


# -- harness ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def dockerd(busybox_dockerd: Dockerd) -> Iterator[Dockerd]:
    yield busybox_dockerd
    client = busybox_dockerd.client()  # the service's containers, whatever happened
    for container in client.containers.list(all=True, filters={"label": labels.SERVICE_ID}):
        container.remove(force=True)


@pytest.fixture
def watched_wal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(real.driver, "Wal", WatchedWal)


def run(body: Callable[[list[Driver]], Awaitable[None]]) -> None:
    """Run ``body`` on one event loop, bounded; close every driver it started."""

    async def bounded() -> None:
        drivers: list[Driver] = []
        try:
            async with asyncio.timeout(PATIENCE):
                await body(drivers)
        finally:
            for driver in drivers:
                await driver.close()

    asyncio.run(bounded())


async def swarm_with_a_service(driver: WatchedDriver) -> ClientReply:
    """Start ``driver``, ``swarm init`` (its ack imaged), and create service ``web``."""
    await driver.start()
    init = await driver.must("SwarmInit", image=True)
    spec = ServiceSpec(
        name="web",
        task_template=TaskSpec(
            container_spec=ContainerSpec(image=IMAGE, stop_grace_period_ns=10**9)
        ),
        mode=ServiceMode(replicated=ReplicatedService(replicas=1)),
    )
    await driver.must("ServiceCreate", spec=spec)
    return init


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.usefixtures("watched_wal")
def test_every_acknowledgement_follows_an_fsync_covering_it(dockerd: Dockerd) -> None:
    files = KeepingFiles()
    driver = WatchedDriver(files, _free_port(), dockerd)
    updates: list[str] = []  # the request id of each update, in order
    init: list[ClientReply] = []

    async def body(drivers: list[Driver]) -> None:
        drivers.append(driver)
        init.append(await swarm_with_a_service(driver))
        for i in range(UPDATES):
            sampled = i % SAMPLE == SAMPLE - 1
            updates.append((await driver.update_label(i, image=sampled)).id)

    run(body)

    # swarm init: its node, with the certificate it answers with, survives a cut then
    at_init = driver.acks[init[0].id]
    assert at_init.identity is not None and at_init.identity.credentials is not None
    assert at_init.image is not None
    assert after_power_loss(at_init.image).identity == at_init.identity

    # every ack: what its envelope wrote was synced (by its group commit's one sync),
    # and the frames of every entry applied (so of every update answered) lay inside
    # the fsynced bytes
    acks = [driver.acks[request_id] for request_id in updates]
    # not vacuous: an answer's envelope writes (at least the commit index it reached)
    assert sum(1 for a in acks if a.records) > UPDATES // 2
    unsynced = [i for i, a in enumerate(acks) if a.unsynced]
    assert not unsynced, f"acked before their envelope's writes were synced: {unsynced[:5]}"
    ends = entry_ends(files.segments(), data_keys(files))
    fsynced = fsynced_lengths(files.log, [a.log_mark for a in acks])
    behind = [
        (i, ends[a.applied], durable.get(ends[a.applied][0], 0))
        for i, (a, durable) in enumerate(zip(acks, fsynced, strict=True))
        if ends[a.applied][1] > durable.get(ends[a.applied][0], 0)
    ]
    assert not behind, f"acked before their fsync (update, frame end, fsynced): {behind[:5]}"

    # sampled acks: a power cut right then recovers a store with every label answered
    images = [(i, a.image) for i, a in enumerate(acks) if a.image is not None]
    assert [i for i, _ in images] == list(range(SAMPLE - 1, UPDATES, SAMPLE))
    for i, image in images:
        recovered = service_labels(store_of(after_power_loss(image)))
        assert {f"k{j}" for j in range(i + 1)} <= set(recovered), f"update {i} lost"


@pytest.mark.usefixtures("watched_wal")
def test_power_loss_mid_burst_loses_no_acknowledged_update(dockerd: Dockerd) -> None:
    """The power goes in the middle of a group commit, tearing its last frame: the
    restarted node drops the torn frame, leads again, has every label it acknowledged,
    and takes writes."""
    files = KeepingFiles()
    port = _free_port()
    first = WatchedDriver(files, port, dockerd)
    acked: list[int] = []
    cut: list[int] = []  # files.log's length when the power went

    async def body(drivers: list[Driver]) -> None:
        drivers.append(first)
        await swarm_with_a_service(first)
        assert first.failed is not None
        i = 0
        while not first.failed.done():
            assert i < UPDATES, "the armed power cut never struck: nothing was fsynced"
            if i == CUT_AFTER:  # a few fsyncs on, in the middle of the burst
                files.arm_power_loss(after_fsyncs=3, torn=TORN)
            update = asyncio.ensure_future(first.update_label(i))
            either: list[asyncio.Future[Any]] = [update, first.failed]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if update.done():
                assert update.result().ok
                acked.append(i)
                i += 1
        cut.append(len(files.log))
        update.cancel()
        await first.close()
        assert isinstance(first.failed.result(), OSError)

        # what the cut left: the fsynced bytes, then part of the frame being written
        (path,) = [f"{WAL_DIR}/{n}" for n in files.list(WAL_DIR) if n.endswith(".log")]
        data = files.read(path)
        (synced,) = fsynced_lengths(files.log, [cut[0]])
        durable = synced[path]
        assert 0 < len(data) - durable < TORN + 1, "no torn frame to recover from"
        assert scan(data, path, last=True, batch=0).end == durable

        second = WatchedDriver(files, port, dockerd)
        drivers.append(second)
        await second.start()
        # the recovery cut the torn frame off, and only it
        assert FileOp("truncate", path, durable) in files.log[cut[0] :]
        assert files.read(path)[:durable] == data[:durable]

        survived = await until_leading(second)
        in_flight = {f"k{i}"}  # sent, unanswered: it may or may not have made it
        assert {f"k{j}" for j in acked} <= set(survived) <= {f"k{j}" for j in acked} | in_flight
        assert len(acked) > CUT_AFTER  # the cut came after acks, mid-burst

        await second.update_label(UPDATES)  # and it takes writes again
        assert f"k{UPDATES}" in await second.labels_now()

    run(body)


async def until_leading(driver: WatchedDriver) -> Labels:
    """Service ``web``'s labels once the restarted node answers for it again."""
    while True:
        reply = await driver.call("ServiceInspect", {"service": "web"})
        if reply.ok:
            assert isinstance(reply.value, Service)
            return reply.value.spec.labels
        await asyncio.sleep(TICK_SECONDS)
