"""Each test host runs its own dockerd inside its namespace; crash and restart take it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from real import dockerd
from real.agent.images import IMAGE, ensure_busybox_image
from real.dockerd import DockerdError
from real.testhosts import procs, sweep
from real.testhosts.hosts import TestHost, TestHosts

Make = Callable[..., TestHosts]


def _client(host: TestHost) -> Any:
    assert host.dockerd is not None
    return host.dockerd.client(timeout=10)


def test_dockerd_answers_inside_each_host_and_survives_a_crash(testhosts: Make) -> None:
    hosts = testhosts(3, docker=True)
    sockets = set()
    for host in hosts:
        assert host.dockerd is not None and host.dockerd.process is not None
        assert host.dockerd.process.pid in procs.pids_in_netns(host.netns_path)
        assert _client(host).ping()
        sockets.add(host.docker_url)
    assert len(sockets) == 3, "one daemon per host"
    h1, h2, _ = hosts
    hosts.crash(h2)
    assert not procs.pids_in_netns(h2.netns_path), "dockerd and its containerd died"
    assert _client(h1).ping(), "the other hosts' daemons live on"
    hosts.restart(h2)
    assert _client(h2).ping()
    run = hosts.run_id
    hosts.close()
    assert sweep.remains(run) == []


def test_crash_kills_the_hosts_containers_and_close_leaves_nothing(testhosts: Make) -> None:
    hosts = testhosts(2, docker=True)
    h1 = hosts[0]
    pids = {}
    for host in hosts:
        client = _client(host)
        ensure_busybox_image(client)
        # No network: the container is in a namespace of its own, not the host's.
        container = client.containers.run(IMAGE, detach=True, network_mode="none")
        pids[host.name] = int(client.api.inspect_container(container.id)["State"]["Pid"])
        client.close()
    assert h1.dockerd is not None
    cgroup = h1.dockerd.cgroup_parent
    assert pids["h1"] in dockerd.cgroup_pids(cgroup)
    hosts.crash(h1)
    assert not procs.running(pids["h1"])
    assert dockerd.cgroup_pids(cgroup) == set(), "no process of h1's containers survives"
    assert procs.running(pids["h2"]), "the other host's containers live on"
    run = hosts.run_id
    hosts.close()
    assert not procs.running(pids["h2"])
    assert sweep.remains(run) == []


def test_a_base_dir_too_long_for_containerd_is_refused_before_anything_is_made() -> None:
    base = Path("/tmp") / ("x" * 60)
    with pytest.raises(DockerdError, match="too long"):
        TestHosts(10, docker=True, base=base)
    assert not base.exists()
