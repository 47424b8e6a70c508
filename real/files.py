"""The file layer under the WAL: the real one (os calls) and a power-loss model for tests.

The WAL sees files only through :class:`FileLayer`, so tests can run it on
:class:`PowerLossFiles`, which keeps what was written apart from what was fsynced and,
on :meth:`PowerLossFiles.power_loss`, throws away everything a power cut may lose:
un-fsynced bytes (optionally keeping a torn prefix of the last write) and directory
changes (new files and directories, renames, removals) not followed by an fsync of the
directory (a directory lost this way takes what is in it along).
Killing a process keeps the page cache and so proves nothing about fsync; this does.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class AppendFile(Protocol):
    """An open file that only grows."""

    def write(self, chunks: Sequence[bytes]) -> None:
        """Append ``chunks`` in order (the WAL passes one chunk per frame)."""

    def fsync(self) -> None:
        """Make every byte written so far durable."""

    def close(self) -> None: ...


class FileLayer(Protocol):
    def makedirs(self, directory: str) -> None:
        """Create ``directory`` and any missing parents, durably."""

    def open_append(self, path: str) -> AppendFile:
        """Open ``path`` for appending, creating it empty if missing."""

    def create(self, path: str) -> AppendFile:
        """Open ``path`` empty for appending, truncating it if it exists."""

    def read(self, path: str) -> bytes: ...

    def list(self, directory: str) -> list[str]:
        """The names in ``directory``, sorted."""

    def rename(self, source: str, target: str) -> None: ...

    def truncate(self, path: str, size: int) -> None: ...

    def remove(self, path: str) -> None: ...

    def fsync_dir(self, directory: str) -> None:
        """Make the directory's entries (creations, renames, removals) durable."""


def make_dirs_durably(
    directory: str,
    exists: Callable[[str], bool],
    mkdir: Callable[[str], None],
    fsync_dir: Callable[[str], None],
) -> None:
    """Create the missing levels of ``directory`` one at a time, top down, fsyncing the
    parent of each: a new directory's name is durable only once its parent is fsynced,
    so fsyncing just the last parent could lose every level above it on a power cut."""
    missing: list[str] = []
    while not exists(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for level in reversed(missing):
        mkdir(level)
        fsync_dir(os.path.dirname(level))


# --- the real layer -----------------------------------------------------------------


class _OsFile:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, chunks: Sequence[bytes]) -> None:
        view = memoryview(b"".join(chunks))
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def fsync(self) -> None:
        # fdatasync also flushes the size an append changed; fsync where it is missing
        sync = getattr(os, "fdatasync", os.fsync)
        sync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class OsFiles:
    """Files on the local file system."""

    _APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)

    def makedirs(self, directory: str) -> None:
        make_dirs_durably(os.path.abspath(directory), os.path.isdir, self._mkdir, self.fsync_dir)

    @staticmethod
    def _mkdir(directory: str) -> None:
        with contextlib.suppress(FileExistsError):  # made meanwhile by someone else
            os.mkdir(directory)

    def open_append(self, path: str) -> AppendFile:
        return _OsFile(os.open(path, self._APPEND, 0o644))

    def create(self, path: str) -> AppendFile:
        return _OsFile(os.open(path, self._APPEND | os.O_TRUNC, 0o644))

    def read(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def list(self, directory: str) -> list[str]:
        return sorted(os.listdir(directory))

    def rename(self, source: str, target: str) -> None:
        os.rename(source, target)

    def truncate(self, path: str, size: int) -> None:
        os.truncate(path, size)

    def remove(self, path: str) -> None:
        os.remove(path)

    def fsync_dir(self, directory: str) -> None:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- the power-loss model -------------------------------------------------------------


class PowerLost(OSError):
    """Raised by an fsync that a test armed to cut the power instead."""

    def __init__(self) -> None:
        super().__init__(errno.EIO, "power lost during fsync")


@dataclass(eq=False)
class _Inode:
    data: bytearray = field(default_factory=bytearray)
    synced: bytes = b""  # the content as of the last fsync


@dataclass(frozen=True)
class FileOp:
    """One call on the layer, for tests that check the order of writes and fsyncs."""

    op: str  # "write", "fsync", "fsync_dir", "rename", "truncate", "remove", "create", "mkdir"
    path: str
    size: int = 0  # bytes written, or the size truncated to


class _PowerLossFile:
    def __init__(self, files: PowerLossFiles, path: str, inode: _Inode) -> None:
        self._files, self._path, self._inode = files, path, inode
        self._epoch = files.epoch

    def _check(self) -> None:
        if self._epoch != self._files.epoch:
            raise OSError(errno.EBADF, f"{self._path}: opened before a power loss")

    def write(self, chunks: Sequence[bytes]) -> None:
        self._check()
        for chunk in chunks:
            self._inode.data += chunk
            self._files.last_write = (self._inode, bytes(chunk))
        self._files.log.append(FileOp("write", self._path, sum(len(c) for c in chunks)))

    def fsync(self) -> None:
        self._check()
        self._files.before_fsync(self._path)
        self._inode.synced = bytes(self._inode.data)
        if self._files.last_write is not None and self._files.last_write[0] is self._inode:
            self._files.last_write = None
        self._files.log.append(FileOp("fsync", self._path))

    def close(self) -> None:
        pass


class PowerLossFiles:
    """An in-memory file system that forgets what a power cut would.

    Each name points to an inode; ``_durable`` is the namespace as of the last fsync of
    each directory. A power loss rebuilds the visible namespace from ``_durable`` and
    every file's content from its fsynced bytes (a file created and fsynced whose
    directory was not fsynced is gone). ``arm_power_loss`` makes a later fsync cut the
    power instead of completing, as a crash in the middle of a group commit.
    """

    def __init__(self, eager_removals: bool = False) -> None:
        # eager_removals: a removal is durable at once, as a file system may persist an
        # unlink before an earlier rename (metadata order is not promised without fsync)
        self.eager_removals = eager_removals
        self._names: dict[str, _Inode] = {}
        self._durable: dict[str, _Inode] = {}
        self._dirs: set[str] = {"/"}
        self._durable_dirs: set[str] = {"/"}  # directories as of their parents' fsyncs
        self.log: list[FileOp] = []
        self.epoch = 0
        self.last_write: tuple[_Inode, bytes] | None = None  # the last un-fsynced chunk
        self._armed: tuple[int, int] | None = None  # (fsyncs still allowed, torn bytes)
        self._fail_next_fsync = False

    # -- faults --

    def fsyncs(self, path: str | None = None) -> int:
        """How many fsyncs (of files and directories) completed, or of ``path`` only."""
        return sum(
            1
            for op in self.log
            if op.op in ("fsync", "fsync_dir") and (path is None or op.path == path)
        )

    def arm_power_loss(self, after_fsyncs: int, torn: int = 0) -> None:
        """After ``after_fsyncs`` more fsyncs complete, the next one loses the power
        (keeping ``torn`` bytes of the last write) and raises :class:`PowerLost`."""
        self._armed = (after_fsyncs, torn)

    def fail_next_fsync(self) -> None:
        """The next fsync reports EIO and makes nothing durable."""
        self._fail_next_fsync = True

    def before_fsync(self, path: str) -> None:
        if self._fail_next_fsync:
            self._fail_next_fsync = False
            raise OSError(errno.EIO, f"{path}: input/output error")
        if self._armed is None:
            return
        left, torn = self._armed
        if left > 0:
            self._armed = (left - 1, torn)
            return
        self._armed = None
        self.power_loss(torn)
        raise PowerLost()

    def power_loss(self, torn: int = 0) -> None:
        """Cut the power: keep only what was fsynced, plus up to ``torn`` bytes (never
        all of it) of the last un-fsynced write, as a torn sector would."""
        last = self.last_write
        kept: set[str] = set()
        for directory in sorted(self._durable_dirs, key=len):  # parents before children
            if os.path.dirname(directory) in kept or os.path.dirname(directory) == directory:
                kept.add(directory)
        self._dirs, self._durable_dirs = set(kept), set(kept)
        self._durable = {n: i for n, i in self._durable.items() if os.path.dirname(n) in kept}
        self._names = dict(self._durable)
        for inode in set(self._names.values()):
            inode.data = bytearray(inode.synced)
        if last is not None and torn > 0 and last[0] in self._names.values():
            inode, chunk = last
            inode.data += chunk[: min(torn, len(chunk) - 1)]
        self.last_write = None
        self._armed = None
        self.epoch += 1

    def copy(self) -> PowerLossFiles:
        """An independent copy (to try a power loss now without disturbing this one)."""
        twin = PowerLossFiles(self.eager_removals)
        inodes: dict[int, _Inode] = {}

        def clone(inode: _Inode) -> _Inode:
            if id(inode) not in inodes:
                inodes[id(inode)] = _Inode(bytearray(inode.data), inode.synced)
            return inodes[id(inode)]

        twin._names = {name: clone(inode) for name, inode in self._names.items()}
        twin._durable = {name: clone(inode) for name, inode in self._durable.items()}
        twin._dirs, twin._durable_dirs = set(self._dirs), set(self._durable_dirs)
        if self.last_write is not None:
            twin.last_write = (clone(self.last_write[0]), self.last_write[1])
        return twin

    # -- the layer --

    def _inode(self, path: str) -> _Inode:
        inode = self._names.get(path)
        if inode is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", path)
        return inode

    def _parent(self, path: str) -> str:
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            raise FileNotFoundError(errno.ENOENT, "no such directory", parent)
        return parent

    def makedirs(self, directory: str) -> None:
        make_dirs_durably(directory, self._is_dir, self._mkdir, self.fsync_dir)

    def _is_dir(self, path: str) -> bool:
        return path in self._dirs

    def _mkdir(self, directory: str) -> None:
        """A new directory: its name is durable only once its parent is fsynced."""
        self._parent(directory)
        self._dirs.add(directory)
        self.log.append(FileOp("mkdir", directory))

    def open_append(self, path: str) -> AppendFile:
        self._parent(path)
        if path not in self._names:
            self._names[path] = _Inode()
            self.log.append(FileOp("create", path))
        return _PowerLossFile(self, path, self._names[path])

    def create(self, path: str) -> AppendFile:
        self._parent(path)
        self._names[path] = _Inode()
        self.log.append(FileOp("create", path))
        return _PowerLossFile(self, path, self._names[path])

    def read(self, path: str) -> bytes:
        return bytes(self._inode(path).data)

    def list(self, directory: str) -> list[str]:
        if directory not in self._dirs:
            raise FileNotFoundError(errno.ENOENT, "no such directory", directory)
        return sorted(os.path.basename(p) for p in self._names if os.path.dirname(p) == directory)

    def rename(self, source: str, target: str) -> None:
        self._parent(target)
        self._names[target] = self._names.pop(source)
        self.log.append(FileOp("rename", f"{source} -> {target}"))

    def truncate(self, path: str, size: int) -> None:
        del self._inode(path).data[size:]
        self.log.append(FileOp("truncate", path, size))

    def remove(self, path: str) -> None:
        self._inode(path)
        del self._names[path]
        if self.eager_removals:
            self._durable.pop(path, None)
        self.log.append(FileOp("remove", path))

    def fsync_dir(self, directory: str) -> None:
        if directory not in self._dirs:
            raise FileNotFoundError(errno.ENOENT, "no such directory", directory)
        self.before_fsync(directory)
        self._durable_dirs -= {d for d in self._durable_dirs if os.path.dirname(d) == directory}
        self._durable_dirs |= {d for d in self._dirs if os.path.dirname(d) == directory}
        for name in [n for n in self._durable if os.path.dirname(n) == directory]:
            del self._durable[name]
        for name, inode in self._names.items():
            if os.path.dirname(name) == directory:
                self._durable[name] = inode
        self.log.append(FileOp("fsync_dir", directory))

    def write_raw(self, path: str, data: bytes, synced: bool = True) -> None:
        """Replace a file's bytes (a test planting corruption); durable if ``synced``."""
        inode = self._inode(path)
        inode.data = bytearray(data)
        if synced:
            inode.synced = bytes(data)
