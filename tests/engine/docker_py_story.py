"""One docker-py story of a swarm's life, told the same way to a real shoal cluster
(tests/real/test_engine_docker_cli.py) and to ``shoal sim serve`` (with a socket per
simulated host): init, joins, node filters and updates, a service created, rolled
to a new image, scaled, listed and removed, and a worker leaving."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
import pytest

PATIENCE = 90.0


def until(check: Callable[[], Any], what: str, patience: float = PATIENCE) -> Any:
    """Poll until ``check()`` is truthy; its value."""
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.3)


def rollback(client: docker.APIClient, service: str) -> None:
    """``docker service rollback``: docker-py has no call for it, so its transport
    posts the update with ``rollback=previous`` as the docker CLI does."""
    current = client.inspect_service(service)
    url = client._url("/services/{0}/update", current["ID"])
    params = {"version": current["Version"]["Index"], "rollback": "previous"}
    client._raise_for_status(client._post_json(url, data=current["Spec"], params=params))


def tell(
    clients: Mapping[str, docker.APIClient],
    address: Callable[[str], str],
    urls: Mapping[str, str],
    images: tuple[str, str],
    said: str | None = None,
) -> None:
    """``clients``: three hosts' APIs, by hostname, the first to init, the second to
    join as a manager, the third as a worker; ``address(host)``: its swarm address;
    ``urls``: their base URLs (for docker-py's high-level client); ``said``: what a
    task running ``sh -c 'echo ...'`` prints (None where containers print nothing,
    as simulated ones)."""
    first, second, third = clients
    h1, h2, h3 = (clients[name] for name in (first, second, third))
    image, newer = images
    assert h1.api_version == "1.41"
    node_id = h1.init_swarm(advertise_addr=address(first).rsplit(":", 1)[0])
    tokens = h1.inspect_swarm()["JoinTokens"]
    assert h2.join_swarm([address(first)], tokens["Manager"])
    assert h3.join_swarm([address(first)], tokens["Worker"])
    info = h3.info()["Swarm"]
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is False
    assert h2.info()["Swarm"]["ControlAvailable"] is True

    def three_ready() -> bool:
        nodes = h1.nodes()
        return len(nodes) == 3 and all(n["Status"]["State"] == "ready" for n in nodes)

    until(three_ready, "3 ready nodes")
    managers = h1.nodes(filters={"role": "manager"})
    assert {n["Description"]["Hostname"] for n in managers} == {first, second}
    assert h1.inspect_node(node_id)["ManagerStatus"]["Leader"] is True
    worker = h1.inspect_node(third)
    spec = {**worker["Spec"], "Labels": {"disk": "ssd"}}
    assert h1.update_node(third, worker["Version"]["Index"], spec)
    assert h2.inspect_node(third)["Spec"]["Labels"] == {"disk": "ssd"}
    with pytest.raises(docker.errors.APIError) as stale:
        h1.update_node(third, worker["Version"]["Index"], spec)
    assert stale.value.status_code == 500 and "update out of sequence" in str(stale.value)
    for role in ("manager", "worker"):  # promote, then demote
        now = h1.inspect_node(third)
        assert h1.update_node(third, now["Version"]["Index"], {**now["Spec"], "Role": role})
        assert h2.inspect_node(third)["Spec"]["Role"] == role

    def template(of: str) -> docker.types.TaskTemplate:
        return docker.types.TaskTemplate(container_spec=docker.types.ContainerSpec(image=of))

    replicas = docker.types.ServiceMode("replicated", replicas=4)
    service_id = h2.create_service(template(image), name="web", mode=replicas)["ID"]

    def running(count: int, wanted: str) -> Callable[[], bool]:
        def check() -> bool:
            tasks = h1.tasks(filters={"service": "web", "desired-state": "running"})
            return len(tasks) == count and all(
                t["Status"]["State"] == "running" and t["Spec"]["ContainerSpec"]["Image"] == wanted
                for t in tasks
            )

        return check

    until(running(4, image), "4 running tasks")
    service = h1.inspect_service("web")
    h1.update_service(
        service_id, service["Version"]["Index"], task_template=template(newer), name="web",
        mode=replicas,
    )  # fmt: skip
    until(running(4, newer), "4 tasks of the new image")
    service = h1.inspect_service(service_id)
    assert service["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == image
    rollback(h1, "web")
    until(running(4, image), "4 tasks of the first image after the rollback")
    assert h1.inspect_service("web")["UpdateStatus"]["Message"] == "manually requested rollback"
    model = docker.DockerClient(base_url=urls[first], version="auto")
    try:
        assert model.services.get("web").scale(2)  # docker-py has no rollback call
    finally:
        model.close()
    until(running(2, image), "2 tasks after scaling down")
    talk = docker.types.ContainerSpec(image=image, command=["sh", "-c", "echo hello; sleep 3600"])
    h1.create_service(docker.types.TaskTemplate(container_spec=talk), name="talk")

    def logged() -> list[str]:
        return [line.decode() for line in h2.service_logs("talk", stdout=True, details=True)]

    if said is None:  # a simulated container prints nothing: an empty stream, no error
        assert logged() == []
    else:
        lines = until(logged, "the talk service's output")
        assert lines[0].endswith(f" {said}\n") and "com.docker.swarm.task.id=" in lines[0]
    assert h1.remove_service("talk")
    assert [s["ID"] for s in h1.services(filters={"name": "we"})] == [service_id]
    assert h1.remove_service(service_id)
    assert h1.services() == []
    assert h3.leave_swarm()
    assert h3.info()["Swarm"]["LocalNodeState"] == "inactive"
    until(lambda: h1.inspect_node(third)["Status"]["State"] == "down", f"{third} down")
    assert h1.remove_node(third)
    assert {n["Description"]["Hostname"] for n in h1.nodes()} == {first, second}
