"""How fast the real WAL makes Raft writes durable on this machine, as JSON.

- ``fsyncs_per_s``: syncs of one small write each (one fdatasync apiece): the latency
  floor of a Raft round trip in real mode;
- ``appends_per_s_batch_N``: writes per second when N are committed per fsync (group
  commit), with one 100-byte entry and a hard state each;
- ``appends_per_s_no_fsync``: encoding and framing alone (the layer that never syncs).

The directory is a temp dir (``--dir`` to pick the file system). Usage:
python benchmarks/wal_speed.py [--seconds 1.0] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import tempfile
from collections.abc import Sequence

from timing import rate

from core.raft.types import DurableWrite, Entry, HardState
from real.files import AppendFile, OsFiles
from real.wal import DataKeys, Wal


class _NoSync:
    def __init__(self, inner: AppendFile) -> None:
        self.inner = inner

    def write(self, chunks: Sequence[bytes]) -> None:
        self.inner.write(chunks)

    def fsync(self) -> None:
        pass

    def close(self) -> None:
        self.inner.close()


class _NoSyncFiles(OsFiles):
    """Real files whose fsyncs do nothing: what the WAL costs besides the disk."""

    def open_append(self, path: str) -> AppendFile:
        return _NoSync(super().open_append(path))

    def create(self, path: str) -> AppendFile:
        return _NoSync(super().create(path))

    def fsync_dir(self, directory: str) -> None:
        pass


def _measure(directory: str, batch: int, seconds: float, sync: bool) -> float:
    """Raft writes made durable per second, ``batch`` per sync."""
    # sealed as a node's log is (encryption at rest costs what it costs here too)
    wal = Wal.open(OsFiles() if sync else _NoSyncFiles(), directory, DataKeys.fresh())
    seqs, indexes = itertools.count(1), itertools.count(1)
    payload = b"x" * 100

    def commit() -> None:
        for _ in range(batch):
            index = next(indexes)
            entry = Entry(1, index, data=payload)
            wal.append(DurableWrite(next(seqs), HardState(1, 1, index), (entry,)))
        wal.sync()

    try:
        return rate(commit, seconds) * batch
    finally:
        wal.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--dir", default=None, help="where to put the temp WAL directories")
    args = parser.parse_args(argv)
    results: dict[str, object] = {"benchmark": "wal_speed", "python": platform.python_version()}
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        results["directory"] = root
        results["fsyncs_per_s"] = round(_measure(f"{root}/one", 1, args.seconds, True))
        for batch in (10, 100):
            key = f"appends_per_s_batch_{batch}"
            results[key] = round(_measure(f"{root}/b{batch}", batch, args.seconds, True))
        results["appends_per_s_no_fsync"] = round(
            _measure(f"{root}/nosync", 100, args.seconds, False)
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
