"""A node's data keys: kept in the clear or wrapped under the swarm's unlock key,
opened only with the right key, and replaced when autolock comes on (the key that
was in the clear then opens nothing on disk)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.manager.autolock import human_key
from core.manager.requests import ClientReply, ClientRequest
from core.node import NodeReady
from core.raft.types import DurableWrite, Entry, HardState
from real.driver import WAL_DIRECTORY, Driver, DriverConfig
from real.files import AppendFile, PowerLossFiles, PowerLost
from real.wal import DataKeys, KeyFile, Wal, WalCorrupt, WrongKey, wrap

DATA_DIR = Path("/shoal")
WAL_DIR = str(DATA_DIR / WAL_DIRECTORY)
KEK = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_wrapped_keys_open_only_with_their_key_and_the_file_round_trips() -> None:
    files = PowerLossFiles()
    key_file = KeyFile(files, WAL_DIR)
    assert key_file.load() is None
    keys = DataKeys.fresh().rotated()
    key_file.save(wrap(keys, KEK))
    files.power_loss()
    stored = key_file.load()
    assert stored is not None and stored.locked and stored.current == 2
    assert stored.open(KEK) == keys
    for wrong in (OTHER, None, KEK[:16]):
        with pytest.raises(WrongKey):
            stored.open(wrong)
    text = files.read(key_file.path)
    assert not [form for key in keys.keys.values() for form in _forms(key) if form in text]
    key_file.save(wrap(keys, None))
    clear = key_file.load()
    assert clear is not None and not clear.locked and clear.open(None) == keys


@pytest.mark.parametrize(
    "damage",
    [b"not json", b'{"format": 2}', b'{"format": 1, "locked": "no", "current": 1, "keys": []}'],
)
def test_a_damaged_key_file_is_corruption_named_by_its_path(damage: bytes) -> None:
    files = PowerLossFiles()
    key_file = KeyFile(files, WAL_DIR)
    key_file.save(wrap(DataKeys.fresh(), None))
    handle = files.create(key_file.path)
    handle.write([damage])
    handle.fsync()
    with pytest.raises(WalCorrupt, match=f"{key_file.path}: unreadable data keys"):
        key_file.load()


def _driver(files: PowerLossFiles, keys: DataKeys) -> Driver:
    """A driver whose log is open, as after boot (nothing else of it is started)."""
    driver = Driver(DriverConfig(host="127.0.0.1:2377", data_dir=DATA_DIR), None, files=files)
    driver.key_file.save(wrap(keys, None))
    driver.wal = Wal.open(files, WAL_DIR, keys)
    driver.wal.append(DurableWrite(1, HardState(1, 1, 1), (Entry(1, 1, data=b"state"),)))
    driver.wal.sync()
    return driver


def _forms(key: bytes) -> list[bytes]:
    """A key as a file may hold it: raw, hex, base64 (padded or not)."""
    encoded = base64.b64encode(key)
    return [key, key.hex().encode(), encoded, encoded.rstrip(b"=")]


def _on_disk(files: PowerLossFiles) -> bytes:
    return b"".join(files.read(os.path.join(WAL_DIR, name)) for name in files.list(WAL_DIR))


def test_autolock_on_replaces_the_data_key_that_was_in_the_clear() -> None:
    files = PowerLossFiles()
    clear = DataKeys.fresh()
    driver = _driver(files, clear)
    driver._lock_with(human_key(KEK))
    files.power_loss()
    stored = driver.key_file.load()
    assert stored is not None and stored.locked and len(stored.entries) == 1
    locked = stored.open(KEK)
    assert locked.current == 2 and clear.keys[1] not in locked.keys.values()
    assert Wal.open(files, WAL_DIR, locked).recovered().raft.entries[0].data == b"state"
    with pytest.raises(WalCorrupt):  # nothing on disk opens with the old key any more
        Wal.open(files, WAL_DIR, clear)
    on_disk = _on_disk(files)  # the log and the key file: the old key is in neither
    assert not [form for form in _forms(clear.keys[1]) if form in on_disk]
    json.loads(files.read(driver.key_file.path))  # whole, after the cut


def test_a_new_unlock_key_rewraps_the_same_data_key_and_autolock_off_replaces_it() -> None:
    files = PowerLossFiles()
    driver = _driver(files, DataKeys.fresh())
    driver._lock_with(human_key(KEK))
    stored = driver.key_file.load()
    assert stored is not None
    locked = stored.open(KEK)
    driver._lock_with(human_key(OTHER))
    rewrapped = driver.key_file.load()
    assert rewrapped is not None
    with pytest.raises(WrongKey):
        rewrapped.open(KEK)
    assert rewrapped.open(OTHER) == locked  # SwarmKit keeps the DEK: it never was in the clear
    driver._lock_with("")  # off: a new data key in the clear, the log rewritten under it
    unlocked = driver.key_file.load()
    assert unlocked is not None and not unlocked.locked
    clear = unlocked.open(None)
    assert clear.current == 3 and set(clear.keys.values()).isdisjoint(locked.keys.values())
    files.power_loss()
    assert Wal.open(files, WAL_DIR, clear).recovered().raft.entries[0].data == b"state"
    calls = len(files.log)
    driver._lock_with("")  # unchanged: nothing written
    assert [op.op for op in files.log[calls:] if op.op not in ("mkdir",)] == []


def _cut_at_every_fsync(
    action: Callable[[Driver], object], prepare: Callable[[Driver], None]
) -> Iterator[PowerLossFiles]:
    """``action`` run on a prepared driver, the power cut after each of its fsyncs in
    turn (and once not at all): the files left by each cut."""
    for allowed in range(64):
        files = PowerLossFiles()
        driver = _driver(files, DataKeys.fresh())
        prepare(driver)
        files.arm_power_loss(after_fsyncs=allowed)
        try:
            action(driver)
        except OSError as error:  # the cut, or the log's failure it caused
            assert isinstance(error, PowerLost) or isinstance(error.__cause__, PowerLost)
            files.power_loss()
            yield files
            continue
        files.power_loss()
        yield files
        return
    raise AssertionError("the action never finished")


def _lock(driver: Driver) -> None:
    driver._lock_with(human_key(KEK))


def test_a_cut_while_the_lock_goes_never_leaves_a_locked_data_key_in_the_clear() -> None:
    for files in _cut_at_every_fsync(lambda driver: driver._lock_with(""), _lock):
        stored = KeyFile(files, WAL_DIR).load()
        assert stored is not None
        keys = stored.open(KEK if stored.locked else None)
        assert Wal.open(files, WAL_DIR, keys).recovered().raft.entries[0].data == b"state"
        if not stored.locked:  # only the new key, never the one that sealed locked data
            assert set(stored.entries) == {3}


def test_a_cut_while_the_lock_comes_on_leaves_a_readable_log() -> None:
    for files in _cut_at_every_fsync(_lock, lambda driver: None):
        stored = KeyFile(files, WAL_DIR).load()
        assert stored is not None
        keys = stored.open(KEK if stored.locked else None)
        assert Wal.open(files, WAL_DIR, keys).recovered().raft.entries[0].data == b"state"


def test_a_cut_first_save_or_forced_leave_never_keeps_the_daemon_from_starting() -> None:
    files = PowerLossFiles()
    files.makedirs(WAL_DIR)
    handle = files.create(KeyFile(files, WAL_DIR).path + ".tmp")  # a first save cut short
    handle.write([b"{"])
    handle.fsync()
    driver = Driver(DriverConfig(host="127.0.0.1:2377", data_dir=DATA_DIR), None, files=files)
    assert not driver._stored_keys().locked
    for cut in _cut_at_every_fsync(lambda driver: driver._forget_swarm(), _lock):
        after = Driver(DriverConfig(host="127.0.0.1:2377", data_dir=DATA_DIR), None, files=cut)
        after._stored_keys()  # a log without its keys would raise here
    for removals in range(8):  # kill -9 after each removal: the page cache keeps them
        files = KilledFiles()
        driver = _driver(files, DataKeys.fresh())
        _lock(driver)
        assert driver.wal is not None  # a segment after the checkpoint, named after keys.json
        driver.wal.append(DurableWrite(2, HardState(1, 1, 2), (Entry(1, 2, data=b"more"),)))
        driver.wal.sync()
        files.removals = removals
        with contextlib.suppress(Killed):
            driver._forget_swarm()
        after = Driver(DriverConfig(host="127.0.0.1:2377", data_dir=DATA_DIR), None, files=files)
        after._stored_keys()


class Killed(Exception):
    """The process died here."""


class KilledFiles(PowerLossFiles):
    """Files whose process is killed after ``removals`` more removals, once set
    (nothing is lost: a kill keeps what reached the page cache)."""

    removals: int | None = None

    def remove(self, path: str) -> None:
        if self.removals is None:
            super().remove(path)
            return
        if self.removals == 0:
            raise Killed()
        self.removals -= 1
        super().remove(path)


class FailingKeyFiles(PowerLossFiles):
    """Files on which writing the key file fails (a full disk, say)."""

    def create(self, path: str) -> AppendFile:
        if path.endswith(".tmp") and os.path.basename(path).startswith("keys"):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return super().create(path)


def test_a_key_file_that_cannot_be_written_stops_the_node() -> None:
    """Not a flusher that dies quietly while the daemon runs on persisting nothing."""

    async def flush() -> BaseException:
        files = FailingKeyFiles()
        keys = DataKeys.fresh()
        driver = Driver(DriverConfig(host="127.0.0.1:2377", data_dir=DATA_DIR), None, files=files)
        driver.wal = Wal.open(files, WAL_DIR, keys)
        driver.failed = asyncio.get_running_loop().create_future()
        driver._flushing = asyncio.Event()
        driver._outbox.append(NodeReady(unlock_key=human_key(KEK)))
        driver._flushing.set()
        await asyncio.wait_for(driver._flush_forever(), 30)
        return await driver.failed

    error = asyncio.run(flush())
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC


def test_an_unlock_whose_boot_fails_leaves_the_node_locked_and_closed() -> None:
    """The key is right but the node cannot start (here: no dockerd to ask): the
    daemon says why in dockerd's words, stays locked, and keeps nothing open."""

    async def unlock() -> tuple[Driver, ClientReply]:
        files = PowerLossFiles()
        driver = _driver(files, DataKeys.fresh())
        _lock(driver)
        stored = driver.key_file.load()
        assert stored is not None and stored.locked
        driver.wal = None
        driver.locked = stored
        request = ClientRequest("r1", "SwarmUnlock", {"key": human_key(KEK)})
        return driver, await driver._locked_call(request, stored)

    driver, reply = asyncio.run(unlock())
    assert not reply.ok and reply.error.startswith("swarm component could not be started: ")
    assert driver.locked is not None and driver.wal is None and driver.node is None
