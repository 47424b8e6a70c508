"""real/dockerd.py: a private dockerd starts, answers, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from real import dockerd
from real.agent.images import IMAGE, ensure_busybox_image
from real.dockerd import Dockerd, DockerdError
from real.testhosts import procs, sweep
from real.testhosts.naming import RunId


@pytest.fixture
def netns(run_id: RunId) -> Iterator[str]:
    name = run_id.name("ns")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _root(run: RunId, suffix: str = "d") -> Path:
    """A daemon root named by the run, so a killed pytest's daemon is swept later."""
    return sweep.default_base() / run.name(suffix)


def test_sigkilled_daemon_leaves_nothing_after_remove(run_id: RunId) -> None:
    d = Dockerd(_root(run_id))
    try:
        d.start()
        client = d.client()
        ensure_busybox_image(client)
        assert ensure_busybox_image(client) == [IMAGE, "local/busybox:2"]  # idempotent
        container = client.containers.create(IMAGE, network_mode="none")
        container.start()
        pid = int(client.api.inspect_container(container.id)["State"]["Pid"])
        client.close()
        d.kill()  # a crash: the container outlives its daemon
        assert Path(f"/proc/{pid}").exists()
        d.start()  # a restart finds its data again
        assert d.client().images.get(IMAGE)
    finally:
        d.remove()
    assert not Path(f"/proc/{pid}").exists()
    assert not d.root.exists()
    assert str(d.root) not in Path("/proc/self/mounts").read_text()


def test_daemon_in_a_network_namespace(run_id: RunId, netns: str) -> None:
    with Dockerd(_root(run_id), netns=netns) as d:
        client = d.client()
        ensure_busybox_image(client)
        container = client.containers.create(IMAGE, network_mode="host", init=True)
        container.start()
        pid = client.api.inspect_container(container.id)["State"]["Pid"]
        inside = os.readlink(f"/proc/{pid}/ns/net")
        assert inside == os.readlink(f"/proc/{d.process.pid}/ns/net")  # type: ignore[union-attr]
        assert inside != os.readlink("/proc/self/ns/net")
        client.close()
    assert not d.root.exists()


def test_cleaning_up_a_crashed_daemon_spares_one_whose_root_extends_its_name(
    run_id: RunId,
) -> None:
    short, extended = Dockerd(_root(run_id, "h1")), Dockerd(_root(run_id, "h10"))
    try:
        short.start()
        extended.start()
        theirs = dockerd.pids_naming(extended.root)  # the daemon and its containerd
        assert len(theirs) >= 2
        short.kill()
        short.stop()  # reaps what the crashed daemon left: nothing of h10's
        assert all(procs.running(pid) for pid in theirs)
        assert extended.client(timeout=10).ping()
    finally:
        short.remove()
        extended.remove()


def test_a_root_too_long_for_containerds_sockets_is_refused() -> None:
    # containerd's debug socket, <root>/exec/containerd/containerd-debug.sock, is the
    # longest: 38 bytes after the root, and containerd takes at most 104.
    fits = Path("/tmp") / ("x" * (104 - 38 - len("/tmp/")))
    assert len(str(fits / dockerd.LONGEST_SOCKET)) == 104
    Dockerd(fits)  # nothing is made before start()
    with pytest.raises(DockerdError, match=r"too long.*containerd-debug\.sock.*105 bytes"):
        Dockerd(Path(f"{fits}y"))


def test_sweep_removes_the_daemon_of_a_killed_run(real_packages: None) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr
    name, pid = crashed.stdout.split()
    run = RunId.parse(name)
    assert run is not None and not run.alive()
    root = _root(run)
    try:
        assert procs.running(int(pid)), "a daemon outlives the run that started it"
        assert run in sweep.sweep()
        assert not procs.running(int(pid))
        assert dockerd.pids_naming(root) == set(), "its containerd went too"
        assert sweep.remains(run) == []
    finally:
        sweep.remove_run(run)


_CRASHING_RUN = """
import os, signal
from real.dockerd import Dockerd
from real.testhosts import sweep
from real.testhosts.naming import RunId
run = RunId.new()
d = Dockerd(sweep.default_base() / run.name("d"))
d.start()
print(run, d.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
