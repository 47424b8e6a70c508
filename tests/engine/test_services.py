"""``/services`` over a simulated swarm, through docker-py and raw HTTP: create,
list (filters, status), inspect (insertDefaults), update (version, rollback),
remove and the multiplexed log stream, with dockerd's statuses and words."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import requests
from docker.types import ContainerSpec, EndpointSpec, ServiceMode, TaskTemplate

from core.tasks.states import TaskState
from real.engine import logs_stream
from sim.cluster import ClusterConfig, ClusterWorld, standard_hosts
from sim.executor import ImageBehaviour
from tests.cluster.support import host_of
from tests.engine.support import StepBackend, api_client

TALKER = ImageBehaviour(output=("listening on :80", "ready"))
Swarm = tuple[ClusterWorld, docker.APIClient]
# docker-py spells these modes "replicated" and "global": Go's decoder matches keys
# without regard to case, and so must shoal's
REPLICATED_2 = ServiceMode("replicated", replicas=2)
GLOBAL = ServiceMode("global")


@contextlib.contextmanager
def serving(managers: int = 1, workers: int = 2) -> Iterator[Swarm]:
    """A formed simulated swarm whose ``talker`` image prints two lines, and a
    docker-py client of its leader's Engine API."""
    config = ClusterConfig(hosts=standard_hosts(managers, workers), images={"talker": TALKER})
    world = ClusterWorld(config, 1)
    world.form_swarm()
    leader = world.leader()
    assert leader is not None
    with api_client(StepBackend(world, leader.name)) as client:
        yield world, client


@pytest.fixture
def swarm() -> Iterator[Swarm]:
    with serving() as built:
        yield built


def raw(client: docker.APIClient, method: str, path: str, **kwargs: Any) -> requests.Response:
    response: requests.Response = client.request(method, client.base_url + path, **kwargs)
    return response


def create(client: docker.APIClient, name: str, image: str = "talker", **options: Any) -> str:
    template = TaskTemplate(ContainerSpec(image, tty=options.pop("tty", False)))
    return str(client.create_service(template, name=name, **options)["ID"])


def run_until_running(world: ClusterWorld, service_id: str, count: int) -> None:
    def running() -> int:
        return sum(
            1
            for t in world.tasks()
            if t.service_id == service_id and t.status.state is TaskState.RUNNING
        )

    assert world.run_until(lambda: running() == count, 60)


def refused(call: Any, *args: Any, **kwargs: Any) -> docker.errors.APIError:
    with pytest.raises(docker.errors.APIError) as caught:
        call(*args, **kwargs)
    return caught.value


def message(error: docker.errors.APIError) -> str:
    assert error.response is not None
    return str(error.response.json()["message"])


# -- create, inspect, list ---------------------------------------------------------------------


def test_create_answers_201_with_the_id_and_inspect_shows_docker_s_service(swarm: Swarm) -> None:
    _, client = swarm
    reply = raw(
        client,
        "POST",
        "/v1.41/services/create",
        json={"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "talker"}}},
    )
    assert reply.status_code == 201
    assert list(reply.json()) == ["ID"]  # Warnings is omitempty
    service = client.inspect_service("web")
    assert service["ID"] == reply.json()["ID"]
    assert service["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}}  # dockerd's default
    assert "SpecVersion" not in service and "PreviousSpecVersion" not in service
    assert client.inspect_service(service["ID"][:5])["ID"] == service["ID"]  # a prefix


def test_a_taken_name_is_409_and_a_bad_spec_400_naming_the_field(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web")
    taken = refused(create, client, "web")
    assert taken.status_code == 409
    assert message(taken) == (
        "rpc error: code = AlreadyExists desc = "
        "name conflicts with an existing object: service web already exists"
    )
    bad = raw(
        client,
        "POST",
        "/services/create",
        json={"Name": "x", "Mode": {"Replicated": {"Replicas": "two"}}},
    )
    assert bad.status_code == 400 and "Replicas" in bad.json()["message"]
    both = raw(
        client,
        "POST",
        "/services/create",
        json={"Name": "x", "Mode": {"Replicated": {}, "Global": {}}},
    )
    assert (both.status_code, both.json()) == (
        400,
        {"message": "must specify only one service mode"},
    )
    assert raw(client, "POST", "/services/create", data=b"").status_code == 400


def test_docker_py_s_lower_case_modes_are_read_as_go_reads_them(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web", mode=ServiceMode("replicated", replicas=2))
    assert client.inspect_service("web")["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}


def test_unknown_services_are_404_in_dockerd_s_words(swarm: Swarm) -> None:
    _, client = swarm
    for call in (client.inspect_service, client.remove_service):
        missing = refused(call, "nope")
        assert (missing.status_code, message(missing)) == (404, "service nope not found")
    missing = refused(client.update_service, "nope", 1, TaskTemplate(ContainerSpec("talker")))
    assert (missing.status_code, message(missing)) == (404, "service nope not found")


def test_list_filters_by_name_prefix_id_prefix_label_and_mode(swarm: Swarm) -> None:
    _, client = swarm
    web = create(client, "web", labels={"tier": "front"})
    create(client, "web-admin", labels={"tier": "back"})
    create(client, "agent", mode=GLOBAL)

    def names(**wanted: Any) -> list[str]:
        return sorted(s["Spec"]["Name"] for s in client.services(filters=wanted))

    assert names() == ["agent", "web", "web-admin"]
    assert names(name="web") == ["web", "web-admin"]  # a prefix, as SwarmKit's NamePrefixes
    assert names(id=web[:8]) == ["web"]
    assert names(label="tier") == ["web", "web-admin"]
    assert names(label="tier=back") == ["web-admin"]
    assert names(mode="global") == ["agent"]
    assert names(mode="replicated") == ["web", "web-admin"]
    assert names(mode="replicated", name="web-") == ["web-admin"]
    assert names(runtime="container") == ["agent", "web", "web-admin"]
    assert names(runtime="plugin") == []
    assert all("ServiceStatus" not in s for s in client.services())
    bad = refused(client.services, filters={"colour": "red"})
    assert bad.status_code == 400 and "'colour'" in message(bad)


def test_status_counts_running_and_desired_tasks(swarm: Swarm) -> None:
    world, client = swarm
    web = create(client, "web", mode=REPLICATED_2)
    agent = create(client, "agent", mode=GLOBAL)
    run_until_running(world, web, 2)
    run_until_running(world, agent, 3)
    status = {s["Spec"]["Name"]: s["ServiceStatus"] for s in client.services(status=True)}
    assert status["web"] == {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}
    assert status["agent"] == {"RunningTasks": 3, "DesiredTasks": 3, "CompletedTasks": 0}
    version = client.inspect_service("agent")["Version"]["Index"]
    client.update_service(
        "agent", version, TaskTemplate(ContainerSpec("nginx")), name="agent", mode=GLOBAL
    )
    assert world.run_until(lambda: sum(t.service_id == agent for t in world.tasks()) == 6, 120)
    world.run_for(30)  # the old tasks stay, shut down: a global service wants only the new
    (status,) = [s["ServiceStatus"] for s in client.services(filters={"name": "agent"}, status=1)]
    assert status == {"RunningTasks": 3, "DesiredTasks": 3, "CompletedTasks": 0}
    older = raw(client, "GET", "/v1.40/services", params={"status": "true"}).json()
    assert all("ServiceStatus" not in s for s in older)  # status is 1.41's
    bad = raw(client, "GET", "/services", params={"status": "maybe"})
    assert (bad.status_code, bad.json()["message"]) == (
        400,
        'invalid value for status: maybe: strconv.ParseBool: parsing "maybe": invalid syntax',
    )


def test_a_job_counts_the_completed_tasks_of_its_run() -> None:
    with serving() as (world, client):
        done = ImageBehaviour(exit_after=1.0)
        world.images["quick"] = done
        job = create(client, "batch", "quick", mode={"ReplicatedJob": {"MaxConcurrent": 2}})
        assert client.inspect_service(job)["Spec"]["Mode"] == {
            "ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}
        }
        assert world.run_until(
            lambda: sum(t.status.state is TaskState.COMPLETE for t in world.tasks()) == 2, 60
        )
        (status,) = [s["ServiceStatus"] for s in client.services(status=True)]
        assert status == {"RunningTasks": 0, "DesiredTasks": 2, "CompletedTasks": 2}


def test_insert_defaults_fills_what_swarmkit_fills(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web")
    bare = client.inspect_service("web")["Spec"]
    assert "UpdateConfig" not in bare and "RestartPolicy" not in bare["TaskTemplate"]
    full = client.inspect_service("web", insert_defaults=True)["Spec"]
    template = full["TaskTemplate"]
    assert template["RestartPolicy"] == {
        "Condition": "any",
        "Delay": 5_000_000_000,
        "MaxAttempts": 0,
    }
    assert template["Placement"] == {} and template["Resources"] == {}
    assert template["ContainerSpec"]["StopGracePeriod"] == 10_000_000_000
    assert template["ContainerSpec"]["DNSConfig"] == {}
    expected = {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }
    assert full["UpdateConfig"] == expected and full["RollbackConfig"] == expected
    bad = raw(client, "GET", "/services/web", params={"insertDefaults": "yes"})
    assert bad.status_code == 400 and bad.json()["message"].startswith(
        "invalid value for insertDefaults: yes: strconv.ParseBool"
    )


# -- update, rollback, remove ------------------------------------------------------------------


def test_update_needs_the_current_version(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web")
    version = client.inspect_service("web")["Version"]["Index"]
    template = TaskTemplate(ContainerSpec("talker", env=["A=1"]))
    assert client.update_service("web", version, template, name="web") == {"Warnings": None}
    spec = client.inspect_service("web")["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
    stale = refused(client.update_service, "web", version, template, name="web")
    assert stale.status_code == 500
    assert message(stale).startswith("rpc error: code = Unknown desc = update out of sequence")
    body = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "talker"}}}
    for query, text in (({}, ""), ({"version": "x1"}, "x1"), ({"version": "-1"}, "-1")):
        missing = raw(client, "POST", "/services/web/update", params=query, json=body)
        assert (missing.status_code, missing.json()["message"]) == (
            400,
            f"invalid service version '{text}': strconv.ParseUint: "
            f'parsing "{text}": invalid syntax',
        )


def test_rollback_previous_returns_to_the_previous_spec(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web")
    service = client.inspect_service("web")
    params = {"version": service["Version"]["Index"], "rollback": "previous"}
    nothing = raw(client, "POST", "/services/web/update", params=params, json=service["Spec"])
    assert nothing.status_code == 400
    assert nothing.json()["message"] == (
        "rpc error: code = FailedPrecondition desc = "
        f"service {service['ID']} does not have a previous spec"
    )
    client.update_service(
        "web", service["Version"]["Index"], TaskTemplate(ContainerSpec("nginx")), name="web"
    )
    updated = client.inspect_service("web")
    assert updated["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "nginx"
    params["version"] = updated["Version"]["Index"]
    back = raw(client, "POST", "/services/web/update", params=params, json=updated["Spec"])
    assert (back.status_code, back.json()) == (200, {"Warnings": None})
    rolled = client.inspect_service("web")
    assert rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "talker"
    assert rolled["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "nginx"
    assert rolled["UpdateStatus"]["State"] == "rollback_started"
    params.update(version=rolled["Version"]["Index"], rollback="sideways")
    odd = raw(client, "POST", "/services/web/update", params=params, json=rolled["Spec"])
    assert (odd.status_code, odd.json()) == (
        500,
        {"message": "unrecognized rollback option sideways"},
    )
    odd = raw(
        client,
        "POST",
        "/services/web/update",
        params={"version": rolled["Version"]["Index"], "registryAuthFrom": "elsewhere"},
        json=rolled["Spec"],
    )
    assert (odd.status_code, odd.json()) == (500, {"message": "unsupported registryAuthFrom value"})


def test_remove_answers_200_with_no_body(swarm: Swarm) -> None:
    _, client = swarm
    service_id = create(client, "web")
    gone = raw(client, "DELETE", f"/v1.41/services/{service_id[:6]}")
    assert (gone.status_code, gone.content) == (200, b"")
    assert client.services() == []


def test_ports_are_kept(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web", endpoint_spec=EndpointSpec(ports={8080: 80}))
    ports = client.inspect_service("web")["Spec"]["EndpointSpec"]["Ports"]
    assert [(p["PublishedPort"], p["TargetPort"]) for p in ports] == [(8080, 80)]


# -- logs --------------------------------------------------------------------------------------


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """stdcopy's frames: (stream, payload); the three bytes after the stream are zero."""
    found = []
    while data:
        stream, length = struct.unpack(">BxxxI", data[:8])
        assert data[1:4] == b"\0\0\0"
        found.append((stream, data[8 : 8 + length]))
        data = data[8 + length :]
    return found


def test_service_logs_are_multiplexed_one_line_a_frame_with_details(swarm: Swarm) -> None:
    world, client = swarm
    service_id = create(client, "web", mode=REPLICATED_2)
    run_until_running(world, service_id, 2)
    tasks = {t.id: t for t in world.tasks() if t.service_id == service_id}
    reply = raw(
        client,
        "GET",
        "/v1.41/services/web/logs",
        params={"stdout": "1", "stderr": "1", "details": "1", "timestamps": "1"},
    )
    assert reply.status_code == 200
    assert "Content-Type" not in reply.headers  # dockerd 20.10 sends none
    assert reply.headers["Api-Version"] == "1.41"
    got = frames(reply.content)
    assert len(got) == 4 and {stream for stream, _ in got} == {1}
    for _, payload in got:
        stamp, details, line = payload.decode().split(" ", 2)
        assert len(stamp) == len("2006-01-02T15:04:05.000000000Z") and stamp.endswith("Z")
        attrs = dict(pair.split("=") for pair in details.split(","))
        task = tasks[attrs["com.docker.swarm.task.id"]]
        assert list(attrs) == [
            "com.docker.swarm.node.id",
            "com.docker.swarm.service.id",
            "com.docker.swarm.task.id",
        ]
        assert attrs["com.docker.swarm.service.id"] == service_id
        assert attrs["com.docker.swarm.node.id"] == task.node_id
        assert line in ("listening on :80\n", "ready\n")
    plain = b"".join(client.service_logs("web", stdout=True, stderr=True))
    assert sorted(plain.decode().splitlines()) == sorted(["listening on :80", "ready"] * 2)
    last = b"".join(client.service_logs("web", stdout=True, tail=1))
    assert last.decode().splitlines() == ["ready", "ready"]  # per task
    assert b"".join(client.service_logs("web", stdout=True, tail=0)) == b""
    later = b"".join(client.service_logs("web", stdout=True, since=4_000_000_000))
    assert later == b""
    assert len(b"".join(client.service_logs("web", stdout=True, since=1)).splitlines()) == 4
    stderr_only = raw(client, "GET", "/services/web/logs", params={"stderr": "1"})
    assert stderr_only.content == b""  # all of a container's output is stdout here


def test_service_logs_need_a_stream_and_a_known_service(swarm: Swarm) -> None:
    _, client = swarm
    create(client, "web")
    none = raw(client, "GET", "/services/web/logs")
    assert (none.status_code, none.json()) == (
        500,
        {"message": "Bad parameters: you must choose at least one stream"},
    )
    missing = raw(client, "GET", "/services/nope/logs", params={"stdout": "1"})
    assert (missing.status_code, missing.json()) == (404, {"message": "service nope not found"})
    tail = raw(client, "GET", "/services/web/logs", params={"stdout": "1", "tail": "x"})
    assert (tail.status_code, tail.json()) == (
        500,
        {"message": 'tail value must be a positive integer or "all"'},
    )
    since = raw(client, "GET", "/services/web/logs", params={"stdout": "1", "since": "soon"})
    assert since.status_code == 500
    assert since.json()["message"].startswith("could not parse since timestamp")


def test_a_tty_service_s_logs_are_raw(swarm: Swarm) -> None:
    world, client = swarm
    service_id = create(client, "term", tty=True)
    run_until_running(world, service_id, 1)
    reply = raw(client, "GET", "/services/term/logs", params={"stdout": "1"})
    assert reply.content == b"listening on :80\nready\n"


def test_a_node_that_cannot_be_asked_ends_the_stream_with_the_warning() -> None:
    with serving(1, 2) as (world, client):
        service_id = create(client, "web", mode=REPLICATED_2)
        run_until_running(world, service_id, 2)
        ran = {host_of(world, t) for t in world.tasks()}
        world.hosts[min(ran - {"manager-1"})].crash()
        world.run_for(20)
        reply = raw(client, "GET", "/services/web/logs", params={"stdout": "1"})
        got = frames(reply.content)
        stream, error = got[-1]
        assert stream == 3
        assert error.decode().startswith(
            "Error grabbing logs: rpc error: code = Unknown desc = warning: incomplete log stream."
        )
        assert error.endswith(b"is not available\n")


def test_followed_logs_bring_new_tasks_lines_until_the_service_is_removed(
    swarm: Swarm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``docker service logs -f``: what there is, then each new line as it comes (a
    task the scale-up started), and the stream ends when the service is gone."""
    world, client = swarm
    monkeypatch.setattr(logs_stream, "FOLLOW_POLL_SECONDS", 0.01)
    service_id = create(client, "web")
    run_until_running(world, service_id, 1)
    stream = client.service_logs("web", stdout=True, follow=True, details=True)
    first = [next(stream).decode() for _ in range(2)]
    assert [line.split(" ", 1)[1] for line in first] == ["listening on :80\n", "ready\n"]
    version = client.inspect_service("web")["Version"]["Index"]
    client.update_service(
        "web", version, TaskTemplate(ContainerSpec("talker")), name="web", mode=REPLICATED_2
    )
    later = [next(stream).decode() for _ in range(2)]
    assert [line.split(" ", 1)[1] for line in later] == ["listening on :80\n", "ready\n"]
    task_of = lambda line: line.split(" ", 1)[0].rsplit("=", 1)[1]  # noqa: E731
    assert {task_of(line) for line in later} != {task_of(line) for line in first}  # the new one
    client.remove_service("web")
    assert list(stream) == []  # the stream ended with the service
