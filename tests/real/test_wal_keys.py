"""A node's data keys: kept in the clear or wrapped under the swarm's unlock key,
opened only with the right key, and replaced when autolock comes on (the key that
was in the clear then opens nothing on disk)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.manager.autolock import human_key
from core.raft.types import DurableWrite, Entry, HardState
from real.driver import WAL_DIRECTORY, Driver, DriverConfig
from real.files import PowerLossFiles
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
    assert all(key.hex().encode() not in text for key in keys.keys.values())
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
    assert clear.keys[1].hex().encode() not in _on_disk(files)
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
    driver._lock_with("")  # unchanged: nothing written
    assert driver.key_file.load() == unlocked
