"""real/dockerd.py: a private dockerd starts, answers, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from real.agent.images import IMAGE, ensure_busybox_image
from real.dockerd import Dockerd
from real.testhosts import packages


@pytest.fixture(scope="module", autouse=True)
def _packages() -> None:
    try:
        packages.ensure()
    except packages.Unavailable as why:
        pytest.skip(f"REAL-MODE TESTS SKIPPED: {why}")


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"shoal-dt-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _root() -> Path:
    return Path(tempfile.mkdtemp(prefix="shoal-dd-", dir="/tmp"))


def test_sigkilled_daemon_leaves_nothing_after_remove() -> None:
    d = Dockerd(_root())
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


def test_daemon_in_a_network_namespace(netns: str) -> None:
    with Dockerd(_root(), netns=netns) as d:
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
