"""The docker SDK client the daemon drives its dockerd through."""

from __future__ import annotations

from typing import Any


def docker_client(url: str, timeout: int = 60, connections: int = 10) -> Any:
    """A ``docker.DockerClient`` on ``url`` (API version negotiated), keeping up to
    ``connections`` connections open (one per thread that calls at once).

    On a unix socket, the client's HTTP session does not read the environment:
    ``requests`` looks for proxy settings in every variable on each call, which was
    a quarter of a worker daemon's CPU while its containers started, and no proxy
    or ``.netrc`` applies to a local socket. Over TCP the environment still counts.
    """
    import docker  # only the daemon needs the SDK

    client = docker.DockerClient(base_url=url, timeout=timeout, max_pool_size=connections)
    if url.startswith(("unix://", "/")):
        client.api.trust_env = False
    return client
