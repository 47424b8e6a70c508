"""``shoal daemon`` on one host, end to end: a real daemon process on a temp data dir
against a private dockerd, driven with the ``shoal`` CLI over its control socket."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from real.agent import labels
from real.agent.images import IMAGE
from real.control import SOCKET_NAME
from real.dockerd import Dockerd

#: Seconds a step may take at most (a bound on waiting, never an assertion on time).
PATIENCE = 90.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dockerd(busybox_dockerd: Dockerd) -> Dockerd:
    return busybox_dockerd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Daemon:
    """A ``shoal daemon`` subprocess; :meth:`kill` is kill -9."""

    def __init__(self, data_dir: Path, docker_host: str) -> None:
        self.data_dir, self.docker_host = data_dir, docker_host
        self.listen = f"127.0.0.1:{_free_port()}"
        self.socket = data_dir / SOCKET_NAME
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def addresses(self) -> list[str]:
        """The daemon's address flags."""
        return ["--listen-addr", self.listen]

    def start(self) -> None:
        self.starts += 1
        log = (self.data_dir.parent / f"daemon-{self.starts}.log").open("wb")
        argv = [sys.executable, "-m", "cli.main", "daemon", "--data-dir", str(self.data_dir)]
        self.process = subprocess.Popen(
            [*argv, *self.addresses(), "--docker-host", self.docker_host],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self._answers, f"the daemon's socket {self.socket}", self.log)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the daemon exited {self.process.returncode}:\n{self.log()}")
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
            except OSError:
                return False
        return True

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=PATIENCE)

    def log(self) -> str:
        path = self.data_dir.parent / f"daemon-{self.starts}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def shoal(self, *words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "--host", f"unix://{self.socket}", *words],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PATIENCE + 150,
        )


def wait_for(done: Callable[[], bool], what: str, log: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}\n{log()}")
        time.sleep(0.2)


@pytest.fixture
def daemon(dockerd: Dockerd, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", dockerd.url)
    try:
        yield d
    finally:
        d.kill()


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()[1:]]


def _task_containers(client: Any) -> dict[str, dict[str, Any]]:
    """The running task containers of service ``web``: container id -> inspect."""
    listed = client.api.containers(filters={"label": f"{labels.SERVICE_NAME}=web"})
    return {c["Id"]: client.api.inspect_container(c["Id"]) for c in listed}


def _until(daemon: Daemon, words: tuple[str, ...], ok: Callable[[str], bool]) -> str:
    """Run a command until its output passes ``ok``; that output."""
    seen: list[str] = []

    def check() -> bool:
        result = daemon.shoal(*words)
        seen[:] = [result.stdout + result.stderr]
        return result.returncode == 0 and ok(result.stdout)

    wait_for(check, " ".join(words), lambda: f"last output: {seen}\n{daemon.log()}")
    return seen[0]


def _running_twice(output: str) -> bool:
    rows = _rows(output)
    return len(rows) == 2 and all("Running" in row for row in rows)


@pytest.mark.slow
def test_one_host_swarm_runs_and_recovers_from_kill_9(daemon: Daemon, dockerd: Dockerd) -> None:
    daemon.start()
    socket_stat = daemon.socket.stat()
    assert stat.S_IMODE(socket_stat.st_mode) == 0o660  # root and root's group, as docker.sock
    assert socket_stat.st_gid == 0

    before = daemon.shoal("node", "ls")
    assert before.returncode == 1
    assert "This node is not a swarm manager" in before.stderr

    init = daemon.shoal("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert init.returncode == 0, init.stderr + daemon.log()
    assert "Swarm initialized: current node (" in init.stdout
    assert "docker swarm join --token SWMTKN-1-" in init.stdout
    assert daemon.listen in init.stdout

    nodes = _until(daemon, ("node", "ls"), lambda out: "Ready" in out)
    (row,) = _rows(nodes)
    assert "*" in row and "Leader" in row and "Active" in row

    created = daemon.shoal("service", "create", "--name", "web", "--replicas", "2", IMAGE)
    assert created.returncode == 0, created.stderr + daemon.log()
    service_id = created.stdout.splitlines()[0]
    assert "verify: Service converged" in created.stdout

    client = dockerd.client()
    containers = _task_containers(client)
    assert len(containers) == 2
    for attrs in containers.values():
        container_labels = attrs["Config"]["Labels"]
        assert container_labels[labels.SERVICE_ID] == service_id
        assert container_labels[labels.TASK_NAME].startswith("web.")
        assert attrs["Name"] == "/" + container_labels[labels.TASK_NAME]
        assert attrs["State"]["Running"]
    tasks = {attrs["Config"]["Labels"][labels.TASK_ID] for attrs in containers.values()}

    ps = daemon.shoal("service", "ps", "web")
    assert ps.returncode == 0 and _running_twice(ps.stdout), ps.stdout + ps.stderr
    listed = daemon.shoal("service", "ls")
    assert "web" in listed.stdout and "2/2" in listed.stdout, listed.stdout

    daemon.kill()  # kill -9: the WAL is all the next daemon has
    daemon.start()
    nodes = _until(daemon, ("node", "ls"), lambda out: "Ready" in out and "Leader" in out)
    assert len(_rows(nodes)) == 1
    _until(daemon, ("service", "ps", "web"), _running_twice)
    listed = daemon.shoal("service", "ls")
    assert service_id[:12] in listed.stdout and "2/2" in listed.stdout, listed.stdout

    adopted = _task_containers(client)
    assert set(adopted) == set(containers)  # the same containers: adopted, not restarted
    for cid, attrs in adopted.items():
        assert attrs["State"]["StartedAt"] == containers[cid]["State"]["StartedAt"]
        assert attrs["RestartCount"] == containers[cid]["RestartCount"]
    ps = daemon.shoal("service", "ps", "-q", "web")
    assert {line[:12] for line in ps.stdout.split()} == {t[:12] for t in tasks}


def test_a_bad_command_gets_dockers_error(daemon: Daemon) -> None:
    daemon.start()
    init = daemon.shoal("swarm", "init")
    assert init.returncode == 0, init.stderr + daemon.log()

    missing = daemon.shoal("service", "ps", "nosuch")
    assert missing.returncode == 1
    # as `shoal sim shell` prints it, and dockerd words a failed lookup
    assert missing.stderr.strip() == "Error response from daemon: service nosuch not found"

    twice = daemon.shoal("swarm", "init")
    assert twice.returncode == 1
    assert "This node is already part of a swarm." in twice.stderr

    bad_flag = daemon.shoal("service", "create", "--replicas", "two", IMAGE)
    assert bad_flag.returncode == 1
    assert 'invalid argument "two" for "--replicas" flag' in bad_flag.stderr
    assert "See 'docker service create --help'." in bad_flag.stderr
    assert "Traceback" not in bad_flag.stderr + missing.stderr + twice.stderr
