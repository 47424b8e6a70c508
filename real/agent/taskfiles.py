"""The secrets and configs of one host's tasks, as files on a tmpfs of their own
(in memory, never on a disk), bind-mounted read-only into each task's container.

dockerd does the same for its swarm tasks (a tmpfs under the container's directory,
``nodev,nosuid,noexec``, remounted read-only, then bind mounts to
``/run/secrets/<target>`` and the configs' targets); shoal's dockerd is not in
swarm mode, so the agent makes the tmpfs itself: one per host, outside the data
directory, with a directory per task holding one file per reference, owned and
moded as the reference says. A task's directory goes with its container; the
tmpfs goes when the daemon closes (a container keeps its own view of its files).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.tasks.executor import TaskFile

#: Where the hosts' tmpfs mounts go: ``/run/shoal/<host>/task-files``.
RUN_ROOT = Path("/run/shoal")
MOUNT_OPTIONS = "mode=0700,nodev,nosuid,noexec,size=64m"


class TaskFileError(Exception):
    """A reference that cannot be written as dockerd would (a uid or gid that is not
    a number), in dockerd's words."""


def _number(kind: str, value: str) -> int:
    """dockerd's ``strconv.Atoi`` of a reference's uid or gid."""
    try:
        return int(value, 10)
    except ValueError:
        raise TaskFileError(
            f'error setting ownership for {kind}: strconv.Atoi: parsing "{value}": invalid syntax'
        ) from None


class TaskFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def write(self, task_id: str, files: Sequence[TaskFile]) -> dict[str, dict[str, str]]:
        """Write the task's files; the binds (host path -> container path, read
        only) that mount them, in docker-py's ``binds`` form."""
        if not files:
            return {}
        owners = [(_number(f.kind, f.uid), _number(f.kind, f.gid)) for f in files]
        self._ensure_mounted()
        directory = self.root / task_id
        directory.mkdir(mode=0o755, exist_ok=True)
        binds: dict[str, dict[str, str]] = {}
        for index, (file, (uid, gid)) in enumerate(zip(files, owners, strict=True)):
            # one file per reference: a secret mounted at two targets is two files
            path = directory / f"{index}-{file.kind}-{file.object_id}"
            mode = file.mode & 0o777  # Go's os.FileMode: the permission bits alone
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(file.data)
            os.chown(path, uid, gid)
            os.chmod(path, mode)  # the umask left out of the open
            binds[str(path)] = {"bind": file.path, "mode": "ro"}
        return binds

    def remove(self, task_id: str) -> None:
        shutil.rmtree(self.root / task_id, ignore_errors=True)

    def keep_only(self, task_ids: Iterable[str]) -> None:
        """After an agent restart: the files of tasks it no longer owns go."""
        if not self.root.is_dir():
            return
        kept = set(task_ids)
        for entry in sorted(self.root.iterdir()):
            if entry.name not in kept:
                shutil.rmtree(entry, ignore_errors=True)

    def close(self) -> None:
        """Unmount the tmpfs once no task has files on it (lazily: a container keeps
        its bind mounts). While one has, it stays for the agent's next life: a
        container made but not started needs its bind sources then."""
        with self._lock:
            if self.root.is_dir() and any(self.root.iterdir()):
                return
            if os.path.ismount(self.root):
                subprocess.run(["umount", "-l", str(self.root)], check=True)
            with contextlib.suppress(OSError):  # each only once empty
                self.root.rmdir()
                self.root.parent.rmdir()
                self.root.parent.parent.rmdir()

    def _ensure_mounted(self) -> None:
        with self._lock:
            if os.path.ismount(self.root):
                return
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", MOUNT_OPTIONS, "shoal-task-files", str(self.root)],
                check=True,
                capture_output=True,
            )


def files_root(netns_prefix: str) -> Path:
    """The tmpfs of the host whose namespaces are named with ``netns_prefix``."""
    return RUN_ROOT / (netns_prefix.strip("-") or "host") / "task-files"
