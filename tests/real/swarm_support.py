"""What the real multi-host networking tests share: a 3-host shoal swarm driven with
the stock docker CLI, its hosts' dockerds, and the web server they run."""

from __future__ import annotations

from typing import Any

from real.agent import labels
from real.testhosts.hosts import TestHost
from real.testhosts.swarm import ShoalSwarm

#: The web server: busybox httpd answering its hostname (the task id's first 12).
WEB = ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]


def docker(swarm: ShoalSwarm, *words: str) -> str:
    done = swarm.docker("h1", *words)
    assert done.returncode == 0, f"docker {' '.join(words)}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


def api(host: TestHost) -> Any:
    assert host.dockerd is not None
    return host.dockerd.client(timeout=30).api


def running_tasks(swarm: ShoalSwarm, service: str) -> dict[str, str]:
    """The running tasks of a service: task id -> host name."""
    found = {}
    for host in swarm.hosts:
        listed = api(host).containers(filters={"label": f"{labels.SERVICE_NAME}={service}"})
        for container in listed:
            found[container["Labels"][labels.TASK_ID]] = host.name
    return found
