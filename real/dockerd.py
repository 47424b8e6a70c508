"""A private dockerd: its own roots, socket and cgroup, for tests and test hosts.

Each test host (and each real-mode test module) runs its own dockerd so that it
never touches the machine's Docker, nor its iptables or bridges. Everything the
daemon writes lives under one directory::

    d = Dockerd(Path("/tmp/h1"), netns="h1")   # netns: a name under /var/run/netns
    d.start()                                  # returns once the socket answers
    client = d.client()                        # a docker.DockerClient on its socket
    d.kill()                                   # kill -9 (a crash); d.start() again later
    d.stop()                                   # SIGTERM, then SIGKILL; leftovers reaped
    d.remove()                                 # stop and delete the directory

or ``with Dockerd(path) as d: ...`` (start, then remove). The daemon runs with
``--iptables=false --ip-forward=false --ip-masq=false --bridge=none`` (so no
network besides ``none``, ``host`` and ``container:``), inside a network namespace
through ``nsenter --net=/var/run/netns/NAME`` when asked. Not ``ip netns exec``: it
remounts /sys and hides the cgroup v1 mounts dockerd needs (real-backend.md §7).
Containers go into a cgroup parent of their own (``shoal-<dir name>``), so that a
daemon killed with SIGKILL leaves no process behind once :meth:`Dockerd.stop` ran. The
module-level clean-up functions (:func:`cgroup_pids`, :func:`remove_cgroup`,
:func:`pids_naming`, :func:`unmount_under`) also serve the test hosts' sweeper, which
removes what the daemons of a killed run left behind.
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

#: containerd refuses unix socket paths longer than this (``sockaddr_un`` holds 107).
SOCKET_PATH_MAX = 104
#: The longest socket path the daemons make under a root: containerd's debug endpoint.
LONGEST_SOCKET = "exec/containerd/containerd-debug.sock"
#: The cgroup v1 hierarchies a container's processes are found in.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: A daemon's containers go into the cgroup parent ``shoal-<its root dir name>``.
CGROUP_PREFIX = "shoal-"


class DockerdError(Exception):
    """dockerd did not start (its log's tail says why), or could not be stopped."""


class Scoped(abc.ABC):
    """Something a ``with`` block brings up and always tears down, even on an exception
    (a daemon here, the test hosts in real/testhosts/hosts.py)."""

    @abc.abstractmethod
    def _bring_up(self) -> None: ...

    @abc.abstractmethod
    def _tear_down(self) -> None: ...

    def __enter__(self) -> Self:
        self._bring_up()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._tear_down()


class Dockerd(Scoped):
    """One dockerd process and the directory it owns.

    ``root`` holds ``data/`` (images, containers), ``exec/`` (containerd state),
    ``docker.sock``, ``dockerd.pid`` and ``dockerd.log``. Keep ``root`` short: see
    :func:`check_root`.
    """

    def __init__(self, root: Path, *, netns: str | None = None, debug: bool = False) -> None:
        self.root = Path(root).absolute()
        check_root(self.root)
        self.netns = netns
        self.debug = debug
        self.process: subprocess.Popen[bytes] | None = None

    # -- where things are ------------------------------------------------------------

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        """The ``DOCKER_HOST`` of this daemon (``unix:///.../docker.sock``)."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def cgroup_parent(self) -> str:
        return cgroup_name(self.root)

    def argv(self) -> list[str]:
        """The command line that starts this daemon."""
        argv = [
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.url}",
            f"--cgroup-parent={self.cgroup_parent}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",
            "--shutdown-timeout=2",
        ]
        if self.debug:
            argv.append("--debug")
        if self.netns is not None:
            argv = ["nsenter", f"--net=/var/run/netns/{self.netns}", *argv]
        return argv

    # -- life ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon and return once its socket answers ``/_ping``."""
        if self.running:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        for pidfile in (self.root / "dockerd.pid", self.root / "exec/containerd/containerd.pid"):
            _drop_stale_pidfile(pidfile)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                self.process = None
                raise DockerdError(f"dockerd exited at start: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DockerdError(f"dockerd did not answer in {timeout} s: {self._log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the daemon's process group, as a crash would (containers may live on)."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.process = None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (dockerd stops its containers), SIGKILL after ``timeout``; then reap
        every process left in its containers' cgroups and unmount what it mounted."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
            self.kill()
        self._reap()
        self._unmount()

    def remove(self) -> None:
        """Stop the daemon and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self, timeout: int = 60) -> Any:
        """A ``docker.DockerClient`` on this daemon (API version negotiated)."""
        import docker  # the SDK is only needed once a daemon runs

        return docker.DockerClient(base_url=self.url, timeout=timeout)

    def _bring_up(self) -> None:
        self.start()

    def _tear_down(self) -> None:
        self.remove()

    # -- internals ----------------------------------------------------------------------

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2.0)
                sock.connect(str(self.socket))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                status = sock.recv(64).split(b"\r\n", 1)[0]
                return b" 200 " in status + b" "
        except OSError:
            return False

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:].strip()
        except OSError:
            return "(no log)"

    def _reap(self) -> None:
        """SIGKILL what still runs in the containers' cgroups (after a SIGKILLed daemon,
        the shims and containers outlive it) and in processes naming our directory."""
        for _ in range(20):
            pids = cgroup_pids(self.cgroup_parent) | pids_naming(self.root)
            if not pids:
                break
            for pid in sorted(pids):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        remove_cgroup(self.cgroup_parent)

    def _unmount(self) -> None:
        unmount_under(self.root)


# -- clean-up, also for daemons whose Dockerd object is gone (a killed test run) ---------


def check_root(root: Path) -> None:
    """Raise :class:`DockerdError` if the sockets under ``root`` would not fit: containerd
    would refuse to start, and dockerd would only say it timed out waiting for it."""
    longest = Path(root).absolute() / LONGEST_SOCKET
    if len(str(longest)) > SOCKET_PATH_MAX:
        raise DockerdError(
            f"dockerd root {root} is too long: containerd's socket {longest} would be "
            f"{len(str(longest))} bytes, over the {SOCKET_PATH_MAX} a unix socket may have"
        )


def cgroup_name(root: Path) -> str:
    """The cgroup parent of the containers of the daemon whose root is ``root``."""
    return f"{CGROUP_PREFIX}{Path(root).name}"


def cgroups(prefix: str = CGROUP_PREFIX) -> list[str]:
    """The container cgroup parents (in any hierarchy) whose name starts with ``prefix``."""
    return sorted({path.name for path in CGROUP_ROOT.glob(f"*/{prefix}*") if path.is_dir()})


def cgroup_pids(name: str) -> set[int]:
    """The processes in container cgroup parent ``name`` and below, in every hierarchy."""
    pids: set[int] = set()
    for listing in CGROUP_ROOT.glob(f"*/{name}/**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in listing.read_text().split())
    return pids


def remove_cgroup(name: str) -> None:
    """Delete cgroup parent ``name`` in every hierarchy, deepest first (empty ones only)."""
    for hierarchy in sorted(CGROUP_ROOT.glob("*")):
        parent = hierarchy / name
        if parent.is_dir():
            for child in sorted(parent.glob("**/"), key=lambda p: (-len(p.parts), str(p))):
                with contextlib.suppress(OSError):
                    child.rmdir()


def pids_naming(root: Path) -> set[int]:
    """Processes whose command line names a path inside ``root`` (the daemon, its
    containerd and shims). Inside, not merely starting with it: ``/tmp/x-h1`` must not
    catch ``/tmp/x-h10/...``."""
    marker = f"{Path(root).absolute()}/".encode()
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "cmdline").read_bytes():
                pids.add(int(entry.name))
    return pids


def mounts_under(path: Path) -> list[str]:
    """Mount points at or inside ``path``, deepest first."""
    here = str(Path(path).absolute())
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [_unescape(line.split()[1]) for line in lines if len(line.split()) > 1]
    inside = (p for p in points if p == here or p.startswith(f"{here}/"))
    return sorted(inside, key=lambda p: (-len(p), p))


def unmount_under(path: Path) -> None:
    """Lazily unmount everything mounted at or inside ``path``, deepest first."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _drop_stale_pidfile(pidfile: Path) -> None:
    """Delete a pidfile left by a killed daemon. dockerd takes a pid that still exists
    for a live daemon, and after a kill -9 it can be a zombie not yet reaped (some
    init processes reap late): dockerd would then wait for a containerd that is dead."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        stat = ""
    alive = bool(stat) and stat.rpartition(")")[2].split()[0] not in ("Z", "X")
    if not alive:
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()


def _unescape(field: str) -> str:
    """/proc/mounts writes spaces and tabs in paths as octal escapes."""
    return (
        field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        .replace("\\134", "\\")
    )  # fmt: skip
