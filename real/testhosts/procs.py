"""Processes inside a test host: spawn with nsenter, signal, find, and kill for good.

A host's processes are started with ``nsenter --net=<netns path>`` (not ``ip netns exec``,
which remounts /sys and hides the cgroup mounts dockerd needs: real-backend.md §7).
nsenter execs the program, so the handle's pid is the program's pid. Each process gets its
own stdout/stderr log files (appended on restart) and the run's tag in its environment,
which lets the sweeper find it after a crashed run.

To crash a host we must also catch what the spawned processes started (dockerd's
containerd and shims, the containers under them): :func:`host_pids` takes every process in
the host's network namespace and all their descendants.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from real.testhosts.naming import ENV_TAG


def nsenter(netns_path: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside the network namespace at ``netns_path``."""
    return ["nsenter", f"--net={netns_path}", "--", *argv]


class Proc:
    """A process spawned inside a test host, restartable with the same command."""

    def __init__(
        self,
        netns_path: str,
        argv: Sequence[str],
        log_dir: Path,
        name: str,
        run_tag: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.netns_path = netns_path
        self.argv = list(argv)
        self.name = name
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self._env = {**os.environ, **(env or {}), ENV_TAG: run_tag}
        self._popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Launch the command (again); logs are appended to."""
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self._popen = subprocess.Popen(
                nsenter(self.netns_path, self.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self._env,
                start_new_session=True,  # a ^C to pytest reaches pytest, which cleans up
            )
        self._await_netns()

    def _await_netns(self, timeout: float = 10.0) -> None:
        """Return once the process is inside the host (nsenter has called setns), so a
        signal or a namespace scan right after :meth:`start` sees it where it belongs."""
        target = os.stat(self.netns_path)
        ident = (target.st_dev, target.st_ino)
        deadline = time.monotonic() + timeout
        while self.alive() and not _same_file(f"/proc/{self.pid}/ns/net", ident):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not enter {self.netns_path}")
            time.sleep(0.002)

    @property
    def pid(self) -> int:
        assert self._popen is not None
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while running; ``-9`` after kill -9 (as subprocess reports signals)."""
        return None if self._popen is None else self._popen.poll()

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def pause(self) -> None:
        """SIGSTOP: the process stays, frozen, sockets open (a hung host)."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> int | None:
        """kill -9 and reap it; its exit status."""
        self.signal(signal.SIGKILL)
        return self.wait(10.0)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; its exit status."""
        if not self.alive():
            return self.returncode
        self.resume()  # a stopped process would not act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            return self.wait(grace)
        except subprocess.TimeoutExpired:
            return self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def wait(self, timeout: float | None = None) -> int | None:
        if self._popen is None:
            return None
        return self._popen.wait(timeout)

    def state(self) -> str | None:
        """The kernel's one-letter state (``T`` when stopped), None once gone or a zombie."""
        if not self.alive():
            return None
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[0]

    def output(self) -> str:
        """Its stdout so far (all runs)."""
        return self.stdout_path.read_text(errors="replace")

    def errors(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _all_pids() -> list[int]:
    return sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _same_file(path: str, ident: tuple[int, int]) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def _tagged(pid: int, tag: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{ENV_TAG}={tag}".encode() in environ.split(b"\0")


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        parent = _ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def pids_in_netns(netns_path: str) -> set[int]:
    """The processes whose network namespace is the one at ``netns_path``."""
    try:
        st = os.stat(netns_path)
    except OSError:
        return set()
    ident = (st.st_dev, st.st_ino)
    return {pid for pid in _all_pids() if _same_file(f"/proc/{pid}/ns/net", ident)}


def pids_tagged(tag: str) -> set[int]:
    """The processes that carry run tag ``tag`` in their environment."""
    return {pid for pid in _all_pids() if _tagged(pid, tag)}


def host_pids(netns_path: str, extra: Iterable[int] = ()) -> set[int]:
    """Everything a host runs: its namespace's processes, ``extra``, and their descendants."""
    roots = pids_in_netns(netns_path) | set(extra)
    roots.discard(os.getpid())
    return descendants(roots) - {os.getpid()}


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in sorted(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_all(pids: Iterable[int], timeout: float = 10.0) -> None:
    """kill -9 every one of ``pids``: freeze them all first so none respawns another."""
    targets = set(pids) - {os.getpid()}
    signal_all(targets, signal.SIGSTOP)
    signal_all(targets, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(running(pid) for pid in targets):
            return
        time.sleep(0.02)


def running(pid: int) -> bool:
    """Still there and not a zombie (a zombie holds no namespace or socket)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
