"""``/secrets``, ``/configs`` and ``/networks`` driven by docker-py over a simulated
swarm, answered with dockerd 20.10's codes, shapes and words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from core.model.service import ServiceSpec
from sim.cluster import ClusterWorld
from tests.engine.support import StepBackend, api_client, world

LEADER = "manager-1"


@pytest.fixture
def swarm() -> ClusterWorld:
    return world(managers=1, workers=1)


@pytest.fixture
def client(swarm: ClusterWorld) -> Iterator[docker.APIClient]:
    with api_client(StepBackend(swarm, LEADER)) as api:
        yield api


def refused(call: Any, *args: Any, **kwargs: Any) -> docker.errors.APIError:
    with pytest.raises(docker.errors.APIError) as caught:
        call(*args, **kwargs)
    return caught.value


def said(error: docker.errors.APIError) -> tuple[int, str]:
    assert error.response is not None
    return error.response.status_code, error.response.json()["message"]


def add_service(swarm: ClusterWorld, name: str, **template: Any) -> str:
    container = {"Image": "nginx", **template.pop("container", {})}
    spec = {
        "Name": name,
        "Mode": {"Replicated": {"Replicas": 0}},
        "TaskTemplate": {"ContainerSpec": container, **template},
    }
    reply = swarm.call(LEADER, "ServiceCreate", spec=ServiceSpec.from_json(spec))
    assert reply.ok, reply.error
    return str(reply.value)


# -- secrets and configs ---------------------------------------------------------------------


def test_a_secret_is_created_listed_and_removed_without_its_data(client: Any) -> None:
    created = client.create_secret("favorite_character", "いざよいさくや", labels={"a": "b"})
    secret_id = created["ID"]
    shown = client.inspect_secret(created)
    assert shown["ID"] == secret_id and shown["Version"]["Index"] > 0
    assert shown["Spec"] == {"Name": "favorite_character", "Labels": {"a": "b"}}
    assert [s["ID"] for s in client.secrets(filters={"names": ["favorite_character"]})] == [
        secret_id
    ]
    assert [s["ID"] for s in client.secrets(filters={"name": ["favorite"]})] == [secret_id]
    assert [s["ID"] for s in client.secrets(filters={"id": [secret_id[:6]]})] == [secret_id]
    assert client.secrets(filters={"label": ["a=c"]}) == []
    assert client.secrets(filters={"names": ["favorite"]}) == []
    assert "Data" not in client.secrets()[0]["Spec"]
    assert client.remove_secret(secret_id)
    error = refused(client.inspect_secret, secret_id)
    assert isinstance(error, docker.errors.NotFound)
    assert said(error) == (404, f"secret {secret_id} not found")


def test_secret_mistakes_get_dockerds_codes(client: Any) -> None:
    client.create_secret("db", "pw")
    assert said(refused(client.create_secret, "db", "other")) == (
        409,
        "rpc error: code = AlreadyExists desc = secret db already exists",
    )
    assert said(refused(client.create_secret, "-db", "pw")) == (
        400,
        "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] "
        "characters allowed, and the start and end character must be [a-zA-Z0-9]",
    )
    assert said(refused(client.create_secret, "big", b"x" * 512000)) == (
        400,
        "rpc error: code = InvalidArgument desc = "
        "secret data must be larger than 0 and less than 512000 bytes",
    )
    response = client._post_json(client._url("/secrets/create"), data={"Name": "x", "Data": "%"})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "illegal base64 data at input byte 0"},
    )
    assert said(refused(client.secrets, filters={"mode": ["x"]}))[0] == 400
    assert client.secrets(filters={"names": ["db"]})[0]["Spec"]["Name"] == "db"  # unchanged


def update(client: Any, kind: str, ref: str, version: Any, spec: dict[str, Any]) -> Any:
    url = client._url(f"/{kind}/{{0}}/update", ref)
    return client._post_json(url, params={"version": version}, data=spec)


def test_a_secret_update_changes_labels_only_at_its_version(client: Any) -> None:
    secret_id = client.create_secret("db", "pw")["ID"]
    version = client.inspect_secret(secret_id)["Version"]["Index"]
    answer = update(client, "secrets", "db", version, {"Name": "db", "Labels": {"k": "v"}})
    assert (answer.status_code, answer.content) == (200, b"")
    shown = client.inspect_secret(secret_id)
    assert shown["Spec"]["Labels"] == {"k": "v"} and shown["Version"]["Index"] > version
    renamed = update(client, "secrets", "db", shown["Version"]["Index"], {"Name": "other"})
    assert (renamed.status_code, renamed.json()["message"]) == (
        400,
        "rpc error: code = InvalidArgument desc = only updates to Labels are allowed",
    )
    stale = update(client, "secrets", "db", version, {"Name": "db"})
    assert stale.status_code == 500 and "update out of sequence" in stale.json()["message"]
    missing = update(client, "secrets", "db", "", {"Name": "db"})
    assert (missing.status_code, missing.json()) == (400, {"message": "invalid secret version"})


def test_a_secret_or_config_in_use_is_not_removed(swarm: ClusterWorld, client: Any) -> None:
    secret_id = client.create_secret("db", "pw")["ID"]
    config_id = client.create_config("conf", "x=1")["ID"]
    secrets = [{"SecretID": secret_id, "SecretName": "db", "File": {"Name": "db"}}]
    configs = [{"ConfigID": config_id, "ConfigName": "conf", "File": {"Name": "/conf"}}]
    web_id = add_service(swarm, "web", container={"Secrets": secrets, "Configs": configs})
    assert said(refused(client.remove_secret, "db")) == (
        400,
        "rpc error: code = InvalidArgument desc = "
        "secret 'db' is in use by the following service: web",
    )
    api_id = add_service(swarm, "api", container={"Configs": configs})
    users = ", ".join(name for _, name in sorted([(api_id, "api"), (web_id, "web")]))
    assert said(refused(client.remove_config, config_id[:8])) == (
        400,
        "rpc error: code = InvalidArgument desc = "
        f"config 'conf' is in use by the following services: {users}",
    )
    assert [s["ID"] for s in client.secrets()] == [secret_id]


def test_a_config_shows_its_data_and_its_templating(client: Any) -> None:
    created = client.create_config("favorite", "sakuya izayoi", templating={"name": "golang"})
    shown = client.inspect_config(created)
    assert shown["Spec"]["Data"] == "c2FrdXlhIGl6YXlvaQ=="
    assert shown["Spec"]["Templating"] == {"Name": "golang"}
    assert [c["ID"] for c in client.configs(filters={"name": ["fav"]})] == [created["ID"]]
    assert said(refused(client.configs, filters={"names": ["favorite"]}))[0] == 400
    old = client._post_json(
        client._url("/configs/create").replace("v1.41", "v1.36"),
        data={"Name": "t", "Data": "eA==", "Templating": {"Name": "golang"}},
    )
    assert (old.status_code, old.json()["message"]) == (
        400,
        "config templating is not supported on the specified API version: 1.36",
    )
    assert client.remove_config(created)
    assert client.configs() == []


# -- networks --------------------------------------------------------------------------------


def test_an_overlay_network_is_shown_as_dockerd_shows_a_swarm_network(client: Any) -> None:
    created = client.create_network("backend", driver="overlay", labels={"tier": "db"})
    assert set(created) == {"Id", "Warning"} and created["Warning"] == ""
    shown = client.inspect_network(created["Id"])
    assert list(shown) == [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    ]
    assert (shown["Name"], shown["Scope"], shown["Driver"]) == ("backend", "swarm", "overlay")
    assert shown["IPAM"]["Driver"] == "default"
    assert (shown["Containers"], shown["Labels"]) == (None, {"tier": "db"})
    # the swarm's view (BasicNetworkFromGRPC): an empty label map crosses gRPC as none
    plain = client.inspect_network(client.create_network("plain", driver="overlay")["Id"])
    assert (plain["Containers"], plain["Labels"]) == (None, None)
    # every swarm node holds the ingress network: dockerd shows libnetwork's own copy
    ingress = client.inspect_network("ingress")
    assert ingress["Ingress"] and (ingress["Containers"], ingress["Labels"]) == ({}, {})
    listed = {n["Name"]: n for n in client.networks()}  # a list is the swarm's view
    assert (listed["ingress"]["Containers"], listed["ingress"]["Labels"]) == (None, None)
    assert client.inspect_network("backend")["Id"] == created["Id"]
    assert client.inspect_network("backend", scope="swarm")["Id"] == created["Id"]
    assert said(refused(client.inspect_network, "backend", scope="local")) == (
        404,
        "network backend not found",
    )
    assert said(refused(client.inspect_network, "nope")) == (404, "network nope not found")


def test_networks_are_listed_with_dockerds_filters(client: Any) -> None:
    backend = client.create_network("backend", driver="overlay", labels={"tier": "db"})["Id"]
    front = client.create_network("front", driver="overlay", attachable=True)["Id"]

    def listed(**kwargs: Any) -> list[str]:
        return sorted(n["Name"] for n in client.networks(**kwargs))

    everything = ["backend", "front", "ingress"]  # dockerd lists the swarm's ingress too
    assert listed() == everything
    assert listed(names=["backend"]) == ["backend"]
    assert listed(names=["back"]) == []  # a swarm network's name is matched whole
    assert listed(ids=[front[:6]]) == ["front"]
    assert listed(filters={"label": ["tier=db"]}) == ["backend"]
    assert listed(filters={"driver": ["overlay"], "scope": ["swarm"]}) == everything
    assert listed(filters={"scope": ["local"]}) == []
    assert listed(filters={"type": ["custom"]}) == everything
    assert listed(filters={"type": ["builtin"]}) == []
    assert listed(filters={"dangling": ["true"]}) == everything  # the swarm's view: no containers
    assert said(refused(client.networks, filters={"dangling": ["yes"]}))[0] == 400
    assert said(refused(client.networks, filters={"type": ["odd"]})) == (
        500,
        "invalid filter: 'type'='odd'",
    )
    assert backend != front


def test_network_create_mistakes_get_dockerds_codes(client: Any) -> None:
    client.create_network("backend", driver="overlay")
    assert said(refused(client.create_network, "backend", driver="overlay")) == (
        409,
        "network with name backend already exists",
    )
    assert said(refused(client.create_network, "bridge", driver="overlay")) == (
        403,
        "operation is not permitted on predefined bridge network ",
    )
    assert said(refused(client.create_network, "n", driver="overlay", scope="local")) == (
        403,
        "cannot downgrade network scope for overlay networks",
    )
    assert said(refused(client.create_network, "n"))[0] == 400  # a host's own bridge
    assert said(refused(client.create_network, "n", driver="host"))[0] == 400
    assert said(refused(client.create_network, "a b", driver="overlay")) == (
        400,
        "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component",
    )
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="172.28.0.0/16", gateway="172.29.0.1")]
    )
    assert said(refused(client.create_network, "n", driver="overlay", ipam=ipam)) == (
        400,
        "rpc error: code = InvalidArgument desc = "
        "ipam configuration: subnet 172.28.0.0/16 does not contain gateway 172.29.0.1",
    )
    text = client._post(client._url("/networks/create"), data='{"Name": "t"}')
    assert (text.status_code, text.json()["message"]) == (
        400,
        "Content-Type specified () must be 'application/json'",
    )
    swarm_bridge = client.create_network("local-ish", driver="bridge", scope="swarm")
    assert client.inspect_network(swarm_bridge["Id"])["Driver"] == "bridge"
    assert sorted(n["Name"] for n in client.networks()) == ["backend", "ingress", "local-ish"]


def test_a_network_a_service_uses_is_not_removed(swarm: ClusterWorld, client: Any) -> None:
    network_id = client.create_network("backend", driver="overlay")["Id"]
    service_id = add_service(swarm, "web", Networks=[{"Target": network_id}])
    assert said(refused(client.remove_network, "backend")) == (
        400,
        f"rpc error: code = FailedPrecondition desc = "
        f"network {network_id} is in use by service {service_id}",
    )
    assert said(refused(client.remove_network, "nope")) == (404, "network nope not found")
    assert swarm.call(LEADER, "ServiceRemove", service=service_id).ok
    client.remove_network(network_id[:6])
    assert [n["Name"] for n in client.networks()] == ["ingress"]


def test_a_service_names_its_networks_and_is_stored_with_their_ids(client: Any) -> None:
    """dockerd writes a service's networks by ID, whatever the client named them by;
    one that does not exist is refused before anything is written."""
    network_id = client.create_network("front", driver="overlay")["Id"]
    template = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(image="nginx"),
        networks=[docker.types.NetworkAttachmentConfig("front", aliases=["web"])],
    )
    service_id = client.create_service(template, name="web")["ID"]
    attached = client.inspect_service(service_id)["Spec"]["TaskTemplate"]["Networks"]
    assert attached == [{"Target": network_id, "Aliases": ["web"]}]
    elsewhere = docker.types.TaskTemplate(
        container_spec=docker.types.ContainerSpec(image="nginx"), networks=["nowhere"]
    )
    assert said(refused(client.create_service, elsewhere, name="lost")) == (
        404,
        "network nowhere not found",
    )
    assert [s["Spec"]["Name"] for s in client.services()] == ["web"]


def test_a_config_reference_needs_a_file_or_a_runtime_target(client: Any) -> None:
    """dockerd's conversion refuses these before SwarmKit sees them."""
    config_id = client.create_config("conf", "x=1")["ID"]
    ref = {"ConfigID": config_id, "ConfigName": "conf"}
    for extra, message in (
        ({}, "either File or Runtime should be set"),
        ({"File": {"Name": "/c"}, "Runtime": {}}, "cannot specify both File and Runtime"),
    ):
        template = {"ContainerSpec": {"Image": "busybox", "Configs": [{**ref, **extra}]}}
        reply = client._post_json(
            client._url("/services/create"), data={"Name": "c", "TaskTemplate": template}
        )
        assert (reply.status_code, reply.json()) == (400, {"message": message})
    assert client.services() == []
