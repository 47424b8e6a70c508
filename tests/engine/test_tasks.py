"""``/tasks`` over a simulated swarm, through docker-py and raw HTTP: the filters
as dockerd and SwarmKit apply them, inspect by ID, name or prefix, and a task's
log stream."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from docker.types import ContainerSpec, TaskTemplate

from tests.engine.test_services import (
    GLOBAL,
    REPLICATED_2,
    Swarm,
    create,
    frames,
    message,
    raw,
    refused,
    run_until_running,
    serving,
)


@pytest.fixture
def swarm() -> Iterator[Swarm]:
    """``web`` (2 replicas, labelled) and ``agent`` (global) running on 1 manager
    and 2 workers."""
    with serving() as (world, client):
        web = create(client, "web", mode=REPLICATED_2, labels={"tier": "front"})
        agent = create(client, "agent", mode=GLOBAL)
        run_until_running(world, web, 2)
        run_until_running(world, agent, 3)
        yield world, client


def ids(client: docker.APIClient, **wanted: object) -> list[str]:
    return sorted(t["ID"] for t in client.tasks(filters=wanted))


def test_tasks_are_docker_s_json(swarm: Swarm) -> None:
    world, client = swarm
    listed = client.tasks()
    assert sorted(t["ID"] for t in listed) == sorted(t.id for t in world.tasks())
    for task in listed:
        assert "SpecVersion" not in task and "Endpoint" not in task
        assert task["Status"]["State"] == "running" and task["DesiredState"] == "running"


def test_service_and_node_filters_take_names_ids_and_prefixes(swarm: Swarm) -> None:
    world, client = swarm
    web = client.inspect_service("web")["ID"]
    mine = sorted(t.id for t in world.tasks() if t.service_id == web)
    assert ids(client, service="web") == mine
    assert ids(client, service=web) == mine
    assert ids(client, service=web[:7]) == mine
    assert ids(client, service=["web", "agent"]) == ids(client)  # alternatives
    worker = next(n for n in client.nodes() if n["Description"]["Hostname"] == "worker-1")
    on_worker = sorted(t.id for t in world.tasks() if t.node_id == worker["ID"])
    assert ids(client, node="worker-1") == on_worker
    assert ids(client, node=worker["ID"][:6]) == on_worker
    missing = refused(client.tasks, filters={"service": "nope"})
    assert (missing.status_code, message(missing)) == (404, "service nope not found")
    missing = refused(client.tasks, filters={"node": "nope"})
    assert (missing.status_code, message(missing)) == (404, "node nope not found")


def test_name_label_id_and_desired_state_filters(swarm: Swarm) -> None:
    world, client = swarm
    web = client.inspect_service("web")["ID"]
    mine = sorted(t.id for t in world.tasks() if t.service_id == web)
    assert ids(client, name="web.") == mine  # SwarmKit's task names: web.1.<id>, a prefix
    first = next(t for t in world.tasks() if t.service_id == web and t.slot == 1)
    assert ids(client, name="web.1") == [first.id]
    agent = next(t for t in world.tasks() if t.service_id != web)
    assert ids(client, name=f"agent.{agent.node_id}") == [agent.id]  # no slot: the node
    assert ids(client, label="tier=front") == mine
    assert ids(client, label="tier=back") == []
    assert ids(client, id=first.id[:9]) == [first.id]
    assert ids(client, **{"desired-state": "running"}) == ids(client)
    assert ids(client, **{"desired-state": "Shutdown"}) == []
    bad = raw(client, "GET", "/tasks", params={"filters": '{"desired-state":["sleeping"]}'})
    assert (bad.status_code, bad.json()) == (
        500,
        {"message": "Invalid desired-state filter: 'sleeping'"},
    )
    assert refused(client.tasks, filters={"colour": "red"}).status_code == 400


def test_an_update_shows_in_desired_state_and_up_to_date(swarm: Swarm) -> None:
    world, client = swarm
    service = client.inspect_service("web")
    client.update_service(
        "web",
        service["Version"]["Index"],
        TaskTemplate(ContainerSpec("nginx")),
        name="web",
        mode=REPLICATED_2,
    )
    web = service["ID"]
    assert world.run_until(lambda: sum(t.service_id == web for t in world.tasks()) == 4, 120)
    world.run_for(30)
    old = ids(client, service="web", **{"desired-state": "shutdown"})
    new = ids(client, service="web", **{"desired-state": "running"})
    assert len(old) == 2 and len(new) == 2
    fresh = ids(client, service="web", **{"_up-to-date": "true"})
    assert fresh == new


def test_inspect_by_id_name_or_prefix_and_dockerd_s_not_found(swarm: Swarm) -> None:
    world, client = swarm
    task = next(t for t in world.tasks() if t.slot == 2)
    by_id = client.inspect_task(task.id)
    assert by_id["ID"] == task.id and by_id["Slot"] == 2
    assert client.inspect_task(task.id[:10])["ID"] == task.id
    assert client.inspect_task(f"web.2.{task.id}")["ID"] == task.id
    missing = refused(client.inspect_task, "nope")
    assert (missing.status_code, message(missing)) == (404, "task nope not found")
    raw_missing = raw(client, "GET", "/v1.41/tasks/nope")
    assert raw_missing.json() == {"message": "task nope not found"}


def test_a_task_s_logs_are_its_own(swarm: Swarm) -> None:
    world, client = swarm
    task = next(t for t in world.tasks() if t.slot == 1)
    reply = raw(client, "GET", f"/tasks/{task.id[:8]}/logs", params={"stdout": "1", "details": "1"})
    assert reply.status_code == 200 and "Content-Type" not in reply.headers
    lines = [payload.decode() for _, payload in frames(reply.content)]
    prefix = (
        f"com.docker.swarm.node.id={task.node_id},"
        f"com.docker.swarm.service.id={task.service_id},"
        f"com.docker.swarm.task.id={task.id} "
    )
    assert lines == [prefix + "listening on :80\n", prefix + "ready\n"]
    missing = raw(client, "GET", "/tasks/nope/logs", params={"stdout": "1"})
    assert (missing.status_code, missing.json()) == (404, {"message": "task nope not found"})
    none = raw(client, "GET", f"/tasks/{task.id}/logs")
    assert none.status_code == 500
