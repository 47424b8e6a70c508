"""Secrets, configs and networks in the control API, refused and answered as
SwarmKit's controlapi (Docker 20.10.24) does, with dockerd's lookups."""

from __future__ import annotations

import base64
import random
import subprocess
import sys
from typing import Any

import pytest

from core.manager.api import Answer, ApiContext, Write, handle
from core.manager.requests import ApiError, ClientReply
from core.model.common import Driver
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkAttachment, NetworkSpec
from core.model.secret import Config, ConfigSpec, Secret, SecretSpec
from core.model.service import Service, ServiceSpec
from core.model.task import Task, TaskStatus
from core.model.wire import Labels
from core.store import MemoryStore
from core.tasks.states import TaskState


class Swarm:
    """A store and the handlers over it; writes are applied at once."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.ctx = ApiContext(store=self.store, rng=random.Random(7), wall=1.0)
        self.index = 0

    def call(self, method: str, **params: Any) -> Any:
        result = handle(self.ctx, method, params)
        if isinstance(result, Answer):
            return result.value
        assert isinstance(result, Write)
        self.index += 1
        self.store.apply(self.index, self.store.transaction(result.build, 0))
        return result.value()

    def refused(self, method: str, **params: Any) -> ApiError:
        with pytest.raises(ApiError) as caught:
            self.call(method, **params)
        return caught.value

    def put(self, obj: Any) -> None:
        self.store.tables[_table(obj)][obj.id] = obj


def _table(obj: Any) -> str:
    return {Service: "services", Task: "tasks", Network: "networks"}[type(obj)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret(name: str = "db", data: bytes = b"pw", **labels: str) -> SecretSpec:
    return SecretSpec(name=name, data=b64(data), labels=Labels(labels))


def config(name: str = "conf", data: bytes = b"x=1", **labels: str) -> ConfigSpec:
    return ConfigSpec(name=name, data=b64(data), labels=Labels(labels))


def service(service_id: str, name: str, **template: Any) -> Service:
    container = {"Image": "nginx", **template.pop("container", {})}
    spec = {"Name": name, "TaskTemplate": {"ContainerSpec": container, **template}}
    return Service(id=service_id, spec=ServiceSpec.from_json(spec))


# -- secrets and configs ---------------------------------------------------------------------


def test_a_secret_is_created_and_never_shown_with_its_data() -> None:
    swarm = Swarm()
    secret_id = swarm.call("SecretCreate", spec=secret(data=b"hunter2"))
    stored = swarm.store.tables["secrets"][secret_id]
    assert isinstance(stored, Secret) and stored.spec.data == b64(b"hunter2")
    shown = swarm.call("SecretInspect", secret="db")
    assert shown.id == secret_id and shown.spec.data == ""
    assert "Data" not in shown.to_json()["Spec"]
    assert [s.spec.data for s in swarm.call("SecretList")] == [""]


def test_a_config_is_shown_with_its_data() -> None:
    swarm = Swarm()
    config_id = swarm.call("ConfigCreate", spec=config(data=b"hello"))
    assert swarm.call("ConfigInspect", config=config_id[:5]).spec.data == b64(b"hello")
    assert [c.spec.data for c in swarm.call("ConfigList")] == [b64(b"hello")]


@pytest.mark.parametrize(
    ("method", "spec", "code", "message"),
    [
        ("SecretCreate", secret(name=""), "InvalidArgument", "name must be provided"),
        *[
            (
                "SecretCreate",
                secret(name=bad),
                "InvalidArgument",
                "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, "
                "and the start and end character must be [a-zA-Z0-9]",
            )
            for bad in ("-db", "db.", "d b", "db\n", "a" * 65)
        ],
        (
            "SecretCreate",
            secret(data=b""),
            "InvalidArgument",
            "secret data must be larger than 0 and less than 512000 bytes",
        ),
        (
            "SecretCreate",
            secret(data=b"x" * 512000),
            "InvalidArgument",
            "secret data must be larger than 0 and less than 512000 bytes",
        ),
        (
            "ConfigCreate",
            config(data=b"x" * 1024000),
            "InvalidArgument",
            "config data must be larger than 0 and less than 1024000 bytes",
        ),
        (
            "SecretCreate",
            SecretSpec(name="db", data="not base64!"),
            "InvalidArgument",
            "illegal base64 data at input byte 3",
        ),
        (
            "SecretCreate",
            SecretSpec(name="db", data="", driver=Driver()),
            "InvalidArgument",
            "secret driver must have a name",
        ),
    ],
)
def test_specs_are_refused_in_swarmkits_words(
    method: str, spec: Any, code: str, message: str
) -> None:
    error = Swarm().refused(method, spec=spec)
    assert (error.code, error.message) == (code, message)


def test_names_and_sizes_just_inside_the_limits_are_taken() -> None:
    swarm = Swarm()
    swarm.call("SecretCreate", spec=secret(name="a" * 64, data=b"x" * 511999))
    swarm.call("SecretCreate", spec=secret(name="A.b-c_9"))
    swarm.call("ConfigCreate", spec=config(data=b"x" * 1023999))
    assert len(swarm.store.tables["secrets"]) == 2


def test_a_name_taken_in_any_case_is_refused() -> None:
    swarm = Swarm()
    swarm.call("SecretCreate", spec=secret(name="db"))
    error = swarm.refused("SecretCreate", spec=secret(name="DB"))
    assert (error.code, error.message) == ("AlreadyExists", "secret DB already exists")
    swarm.call("ConfigCreate", spec=config(name="db"))  # another kind, another namespace


def test_a_lookup_failure_is_dockerds_plain_error() -> None:
    error = Swarm().refused("SecretInspect", secret="nope")
    assert (error.code, str(error)) == ("NotFound", "secret nope not found")
    reply = ClientReply.failed("r1", error)
    assert (reply.error, reply.code) == ("secret nope not found", "NotFound")


def test_only_labels_change_and_at_the_version_read() -> None:
    swarm = Swarm()
    secret_id = swarm.call("SecretCreate", spec=secret(a="1"))
    version = swarm.store.tables["secrets"][secret_id].version.index
    for changed in (secret(name="other"), secret(data=b"new")):
        error = swarm.refused("SecretUpdate", secret="db", version=version, spec=changed)
        assert (error.code, error.message) == (
            "InvalidArgument",
            "only updates to Labels are allowed",
        )
    stale = swarm.refused("SecretUpdate", secret="db", version=version - 1, spec=secret(b="2"))
    assert stale.message.startswith("update out of sequence")
    # the data may be left out (or sent unchanged): only the labels are taken
    swarm.call("SecretUpdate", secret="db", version=version, spec=SecretSpec(name="db"))
    now = swarm.store.tables["secrets"][secret_id]
    swarm.call("SecretUpdate", secret="db", version=now.version.index, spec=secret(b="2"))
    updated = swarm.store.tables["secrets"][secret_id]
    assert isinstance(updated, Secret)
    assert updated.spec.labels == {"b": "2"} and updated.spec.data == b64(b"pw")


def test_in_use_objects_stay_and_the_error_names_the_services() -> None:
    swarm = Swarm()
    secret_id = swarm.call("SecretCreate", spec=secret())
    config_id = swarm.call("ConfigCreate", spec=config())
    ref = {"SecretID": secret_id, "SecretName": "db"}
    swarm.put(service("s1", "web", container={"Secrets": [ref]}))
    error = swarm.refused("SecretRemove", secret="db")
    assert (error.code, error.message) == (
        "InvalidArgument",
        "secret 'db' is in use by the following service: web",
    )
    swarm.put(service("s0", "api", container={"Secrets": [ref]}))
    assert swarm.refused("SecretRemove", secret=secret_id).message == (
        "secret 'db' is in use by the following services: api, web"
    )
    cref = {"ConfigID": config_id, "ConfigName": "conf"}
    swarm.put(service("s2", "proxy", container={"Configs": [cref]}))
    assert swarm.refused("ConfigRemove", config="conf").message == (
        "config 'conf' is in use by the following service: proxy"
    )
    del swarm.store.tables["services"]["s2"]
    swarm.call("ConfigRemove", config="conf")
    assert swarm.store.tables["configs"] == {}


def test_list_filters_are_swarmkits() -> None:
    swarm = Swarm()
    ids = {
        name: swarm.call("SecretCreate", spec=secret(name=name, **labels))
        for name, labels in (("db", {"env": "prod"}), ("dbx", {"env": "dev"}), ("web", {}))
    }

    def names(**filters: Any) -> list[str]:
        return sorted(s.spec.name for s in swarm.call("SecretList", **filters))

    assert names(names=("db",)) == ["db"]
    assert names(name_prefixes=("db",)) == ["db", "dbx"]
    assert names(names=("web",), id_prefixes=(ids["db"][:6],)) == ["db", "web"]  # any of
    assert names(labels={"env": ""}) == ["db", "dbx"]  # the key, with any value
    assert names(name_prefixes=("d",), labels={"env": "dev"}) == ["dbx"]  # and every label
    assert names(names=("DB",)) == ["db"]  # as the store's name index: in lower case


# -- networks --------------------------------------------------------------------------------


def overlay(name: str = "backend", **fields: Any) -> NetworkSpec:
    return NetworkSpec(name=name, driver_configuration=Driver(name="overlay"), **fields)


@pytest.mark.parametrize(
    ("spec", "code", "message"),
    [
        (
            NetworkSpec(name="in", ingress=True, driver_configuration=Driver(name="bridge")),
            "Unimplemented",
            "only overlay driver is currently supported for ingress network",
        ),
        (
            overlay(ingress=True, attachable=True),
            "InvalidArgument",
            "ingress network cannot be attachable",
        ),
        (overlay(name=""), "InvalidArgument", "meta: name must be provided"),
        (overlay(name="a b"), "InvalidArgument", "name must be valid as a DNS name component"),
        (overlay(name="a" * 64), "InvalidArgument", "name must be 63 characters or fewer"),
        (
            overlay(labels=Labels({"com.docker.swarm.predefined": "false"})),
            "PermissionDenied",
            "label com.docker.swarm.predefined is for internally created predefined "
            "networks and cannot be applied by users",
        ),
        (
            NetworkSpec(name="n", driver_configuration=Driver()),
            "InvalidArgument",
            "driver name: if driver is specified name is required",
        ),
        (
            NetworkSpec(name="n", driver_configuration=Driver(name="weave")),
            "InvalidArgument",
            "error during lookup of plugin weave",
        ),
        *[
            (
                overlay(ipam_options=IPAMOptions(driver=Driver(name="default"), configs=(c,))),
                "InvalidArgument",
                f"ipam configuration: {words}",
            )
            for c, words in (
                (IPAMConfig(subnet="10.1.0.0"), "invalid subnet 10.1.0.0"),
                (IPAMConfig(subnet="10.1.0.0/16", range="x"), "invalid range x"),
                (
                    IPAMConfig(subnet="10.1.0.0/16", range="10.2.0.0/24"),
                    "subnet 10.1.0.0/16 does not contain range 10.2.0.0/24",
                ),
                (IPAMConfig(subnet="10.1.0.0/16", gateway="10.1"), "invalid gateway 10.1"),
                (
                    IPAMConfig(subnet="10.1.0.0/16", gateway="10.9.0.1"),
                    "subnet 10.1.0.0/16 does not contain gateway 10.9.0.1",
                ),
            )
        ],
    ],
)
def test_network_specs_are_refused_in_swarmkits_words(
    spec: NetworkSpec, code: str, message: str
) -> None:
    error = Swarm().refused("NetworkCreate", spec=spec)
    assert (error.code, error.message) == (code, message)


def test_a_network_name_in_use_is_refused_in_dockerds_words() -> None:
    swarm = Swarm()
    ipam = IPAMOptions(configs=(IPAMConfig(subnet="10.1.0.0/16", gateway="10.1.0.1"),))
    swarm.call("NetworkCreate", spec=overlay(ipam_options=ipam))
    error = swarm.refused("NetworkCreate", spec=overlay(name="Backend"))
    assert (error.code, str(error)) == ("AlreadyExists", "network with name Backend already exists")


def test_only_one_ingress_network() -> None:
    swarm = Swarm()
    first = swarm.call("NetworkCreate", spec=overlay(name="ingress", ingress=True))
    error = swarm.refused("NetworkCreate", spec=overlay(name="mesh", ingress=True))
    assert (error.code, error.message) == (
        "AlreadyExists",
        f"ingress network ({first}) is already present",
    )


def test_a_network_is_found_by_id_name_or_prefix_and_listed_by_exact_name() -> None:
    swarm = Swarm()
    network_id = swarm.call("NetworkCreate", spec=overlay())
    swarm.call("NetworkCreate", spec=overlay(name="backend2"))
    for ref in (network_id, "backend", network_id[:4]):
        assert swarm.call("NetworkInspect", network=ref).id == network_id
    error = swarm.refused("NetworkInspect", network="nope")
    assert (error.code, str(error)) == ("NotFound", "network nope not found")
    listed = swarm.call("NetworkList", names=("backend",))
    assert [n.id for n in listed] == [network_id]
    assert [n.spec.name for n in swarm.call("NetworkList", id_prefixes=(network_id[:4],))] == [
        "backend"
    ]


def test_a_network_in_use_by_a_service_or_a_live_task_stays() -> None:
    swarm = Swarm()
    network_id = swarm.call("NetworkCreate", spec=overlay())
    network = swarm.store.tables["networks"][network_id]
    assert isinstance(network, Network)
    for target in (network_id, "backend"):
        swarm.put(service("s1", "web", Networks=[{"Target": target}]))
        error = swarm.refused("NetworkRemove", network="backend")
        assert (error.code, error.message) == (
            "FailedPrecondition",
            f"network {network_id} is in use by service s1",
        )
    del swarm.store.tables["services"]["s1"]
    attached = (NetworkAttachment(network=network),)
    task = Task(
        id="t1",
        status=TaskStatus(state=TaskState.RUNNING),
        desired_state=TaskState.SHUTDOWN,
        networks_attachments=attached,
    )
    swarm.put(task)
    swarm.call("NetworkCreate", spec=overlay(name="other"))
    swarm.put(
        Task(
            id="t2",
            status=TaskStatus(state=TaskState.RUNNING),
            desired_state=TaskState.RUNNING,
            networks_attachments=attached,
        )
    )
    error = swarm.refused("NetworkRemove", network=network_id)
    assert error.message == f"network {network_id} is in use by task t2"
    del swarm.store.tables["tasks"]["t2"]  # t1 is on its way down: it does not hold it
    swarm.call("NetworkRemove", network=network_id)
    assert [n.spec.name for n in swarm.call("NetworkList")] == ["other"]


def test_the_ingress_network_stays_while_a_service_publishes_through_it() -> None:
    swarm = Swarm()
    swarm.call("NetworkCreate", spec=overlay(name="ingress", ingress=True))
    spec = {
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}},
        "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080}]},
    }
    swarm.put(Service(id="s1", spec=ServiceSpec.from_json(spec)))
    error = swarm.refused("NetworkRemove", network="ingress")
    assert (error.code, error.message) == (
        "FailedPrecondition",
        "ingress network cannot be removed because service s1 depends on it",
    )


def test_a_predefined_network_is_not_removed() -> None:
    swarm = Swarm()
    labels = Labels({"com.docker.swarm.predefined": "true"})
    swarm.put(Network(id="p1", spec=NetworkSpec(name="host", labels=labels)))
    error = swarm.refused("NetworkRemove", network="host")
    assert (error.code, error.message) == (
        "FailedPrecondition",
        "network p1 (host) is a swarm predefined network and cannot be removed",
    )


@pytest.mark.parametrize("first", ["core.manager.objects_api", "core.manager.api"])
def test_either_module_may_be_imported_first(first: str) -> None:
    code = (
        f"import {first}\n"
        "from core.manager.api import HANDLERS\n"
        "assert 'NetworkRemove' in HANDLERS and 'SecretCreate' in HANDLERS\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_config_is_a_config() -> None:
    swarm = Swarm()
    swarm.call("ConfigCreate", spec=config())
    assert all(isinstance(c, Config) for c in swarm.call("ConfigList"))
