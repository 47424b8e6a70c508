"""Each test host runs its own dockerd inside its namespace; crash and restart take it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
