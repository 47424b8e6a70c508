"""A file layer whose writes and fsyncs hang while a stall is on (``stall-disk HOST`` on
test hosts): a hung disk, as the simulator's stalled disk finishes no fsync. Everything
else (reads, listings, renames) passes; a write or fsync under way when the stall starts
finishes, the next ones wait (on the WAL's worker thread, never the event loop) until
:meth:`StallingFiles.unstall`."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from real.files import AppendFile, FileLayer


class _Gate:
    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    @property
    def closed(self) -> bool:
        return not self._open.is_set()

    def wait(self) -> None:
        self._open.wait()


class _StallingFile:
    def __init__(self, inner: AppendFile, gate: _Gate) -> None:
        self._inner, self._gate = inner, gate

    def write(self, chunks: Sequence[bytes]) -> None:
        self._gate.wait()
        self._inner.write(chunks)

    def fsync(self) -> None:
        self._gate.wait()
        self._inner.fsync()

    def close(self) -> None:
        self._inner.close()


class StallingFiles:
    """``inner`` (a :class:`~real.files.FileLayer`) with a stall switch."""

    def __init__(self, inner: FileLayer) -> None:
        self._inner = inner
        self._gate = _Gate()

    @property
    def stalled(self) -> bool:
        return self._gate.closed

    def stall(self) -> None:
        self._gate.close()

    def unstall(self) -> None:
        self._gate.open()

    def makedirs(self, directory: str) -> None:
        self._inner.makedirs(directory)

    def open_append(self, path: str) -> AppendFile:
        return _StallingFile(self._inner.open_append(path), self._gate)

    def create(self, path: str) -> AppendFile:
        return _StallingFile(self._inner.create(path), self._gate)

    def read(self, path: str) -> bytes:
        return self._inner.read(path)

    def list(self, directory: str) -> list[str]:
        return self._inner.list(directory)

    def rename(self, source: str, target: str) -> None:
        self._inner.rename(source, target)

    def truncate(self, path: str, size: int) -> None:
        self._inner.truncate(path, size)

    def remove(self, path: str) -> None:
        self._inner.remove(path)

    def fsync_dir(self, directory: str) -> None:
        self._gate.wait()
        self._inner.fsync_dir(directory)
