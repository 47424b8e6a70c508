"""Secrets and configs in a simulated swarm (issue 19): a service's references are
checked as SwarmKit checks them; a secret's data reaches exactly the nodes running
a task that uses it, and leaves them once no task there does; each task's container
has its files at Docker's paths."""

from __future__ import annotations

import base64

from core.model import replace
from core.model.secret import ConfigSpec, SecretSpec
from core.model.service import (
    ConfigReference,
    ContainerSpec,
    FileTarget,
    SecretReference,
    ServiceSpec,
)
from sim.cluster import ClusterWorld
from tests.cluster.support import host_of, replicated, running, swarm
from tests.cluster.updates import service


def _create(world: ClusterWorld, method: str, spec: object) -> str:
    reply = world.call("manager-1", method, spec=spec)
    assert reply.ok, reply.error
    return str(reply.value)


def _data(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _with_files(
    spec: ServiceSpec,
    secrets: tuple[SecretReference, ...] = (),
    configs: tuple[ConfigReference, ...] = (),
) -> ServiceSpec:
    template = spec.task_template
    container = template.container_spec or ContainerSpec()
    container = replace(container, secrets=secrets, configs=configs)
    return replace(spec, task_template=replace(template, container_spec=container))


def _holders(world: ClusterWorld, secret_id: str) -> list[str]:
    """The hosts whose agent holds the secret."""
    return [
        name
        for name in sorted(world.hosts)
        if (node := world.hosts[name].node) is not None
        and node.agent is not None
        and secret_id in node.agent.secrets
    ]


def test_a_secret_reaches_only_the_nodes_that_run_its_tasks_and_leaves_with_them() -> None:
    world = swarm(11, managers=1, workers=4)
    secret_id = _create(world, "SecretCreate", SecretSpec(name="db_pw", data=_data("s3cret")))
    config_id = _create(world, "ConfigCreate", ConfigSpec(name="app.conf", data=_data("x=1")))
    secrets = (
        SecretReference(secret_id=secret_id, secret_name="db_pw", file=FileTarget(name="db_pw")),
    )
    configs = (
        ConfigReference(
            config_id=config_id,
            config_name="app.conf",
            file=FileTarget(name="etc/app.conf", uid="33", gid="33", mode=0o440),
        ),
    )
    spec = _with_files(replicated("web", 2), secrets, configs)
    web = _create(world, "ServiceCreate", spec)
    assert world.run_until(lambda: len(running(world, web)) == 2, 60)
    world.run_for(1)
    hosts = sorted({host_of(world, task) for task in running(world, web)})
    assert _holders(world, secret_id) == hosts, "the secret is on another set of nodes"
    for task in running(world, web):
        files = world.hosts[host_of(world, task)].executor.containers[task.id].files
        assert files["/run/secrets/db_pw"].data == b"s3cret"
        mounted = files["/etc/app.conf"]  # a config's relative target is under /
        assert (mounted.data, mounted.uid, mounted.gid, mounted.mode) == (b"x=1", "33", "33", 0o440)

    current = service(world, web).spec
    reply = world.call("manager-1", "ServiceUpdate", service=web, spec=_with_files(current))
    assert reply.ok, reply.error
    assert world.run_until(lambda: not _holders(world, secret_id), 60), (
        "a node kept the secret after its last task using it ended"
    )
    assert len(running(world, web)) == 2


def _refused(world: ClusterWorld, spec: ServiceSpec) -> str:
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert not reply.ok, "the spec was taken"
    return reply.error


def test_references_are_checked_in_swarmkits_words() -> None:
    world = swarm(12, managers=1, workers=1)
    a = _create(world, "SecretCreate", SecretSpec(name="a", data=_data("1")))
    b = _create(world, "SecretCreate", SecretSpec(name="b", data=_data("2")))
    base = replicated("web", 1)

    def ref(secret_id: str, name: str, target: str | None) -> SecretReference:
        file = FileTarget(name=target) if target is not None else None
        return SecretReference(secret_id=secret_id, secret_name=name, file=file)

    prefix = "rpc error: code = InvalidArgument desc = "
    cases = [
        ((ref("", "a", "a"),), "malformed secret reference"),
        ((ref(a, "a", None),), "malformed secret reference, no target provided"),
        (
            (ref(a, "a", ""),),
            "malformed file secret reference, invalid target file name provided",
        ),
        (
            (ref(a, "a", "same"), ref(b, "b", "same")),
            "secret references 'a' and 'b' have a conflicting target: 'same'",
        ),
        ((ref(a, "b", "x"),), "secret not found: b"),  # the id is a's: names must match
        ((ref("nope1", "c", "c"), ref("nope2", "d", "d")), "secrets not found: c, d"),
    ]
    for secrets, expected in cases:
        error = _refused(world, _with_files(base, secrets))
        assert error == prefix + expected, (secrets, error)
    web = _create(world, "ServiceCreate", _with_files(base, (ref(a, "a", "a"),)))
    update = world.call(
        "manager-1", "ServiceUpdate", service=web, spec=_with_files(base, (ref("gone", "g", "g"),))
    )
    assert update.error == prefix + "secret not found: g"
