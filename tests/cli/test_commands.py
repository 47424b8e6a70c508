"""The command language: Docker's service and node command lines into requests,
and Docker's messages for the lines it refuses."""

from __future__ import annotations

import random

import pytest

from cli.commands.common import Call, Change, Found
from cli.commands.flags import CommandParser, UsageError
from cli.commands.language import parse
from core.model.duration import SECOND
from core.model.enums import FailureAction, RestartCondition, UpdateOrder
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    PortConfig,
    ReplicatedService,
    ServiceMode,
    ServiceSpec,
    TaskSpec,
)
from core.model.wire import Labels


def one(line: str, files: dict[str, str] | None = None) -> Call | Change:
    (command,) = parse(line, random.Random(1), lambda path: (files or {})[path])
    return command


def created(line: str, files: dict[str, str] | None = None) -> ServiceSpec:
    command = one(line, files)
    assert isinstance(command, Call) and command.method == "ServiceCreate"
    spec = command.params["spec"]
    assert isinstance(spec, ServiceSpec)
    return spec


def refused(line: str) -> str:
    with pytest.raises(UsageError) as caught:
        parse(line, random.Random(1))
    return caught.value.message


BASE = ServiceSpec(
    name="web",
    task_template=TaskSpec(container_spec=ContainerSpec(image="nginx:1")),
    mode=ServiceMode(replicated=ReplicatedService(replicas=3)),
)


def edited(line: str, spec: ServiceSpec = BASE) -> ServiceSpec:
    command = one(line)
    assert isinstance(command, Change)
    return command.edit(spec, Found())


# -- create -------------------------------------------------------------------------------


def test_create_with_docker_defaults() -> None:
    spec = created("docker service create --name web nginx")
    assert spec.name == "web"
    assert spec.mode == ServiceMode(replicated=ReplicatedService(replicas=1))
    assert spec.task_template.container_spec == ContainerSpec(image="nginx")
    assert spec.update_config is None and spec.endpoint_spec is None


def test_create_reads_every_kind_of_flag() -> None:
    spec = created(
        "service create --name api --replicas 5 -p 8080:80 --publish published=53,target=53,"
        "protocol=udp,mode=host -e A=1 --env B=2 -l tier=front --constraint node.role==worker "
        "--placement-pref spread=node.labels.rack --reserve-cpu 0.5 --reserve-memory 512M "
        "--restart-condition on-failure --restart-max-attempts 3 --update-parallelism 2 "
        "--update-delay 10s --update-failure-action rollback --update-order start-first "
        "--update-max-failure-ratio 0.2 --rollback-monitor 20s --stop-grace-period 1m "
        "--health-cmd 'curl -f localhost' --health-interval 5s alpine sh -c 'sleep 1000'"
    )
    container = spec.task_template.container_spec
    assert container is not None
    assert (container.image, container.args) == ("alpine", ("sh", "-c", "sleep 1000"))
    assert container.env == ("A=1", "B=2")
    assert container.stop_grace_period_ns == 60 * SECOND
    assert container.healthcheck is not None
    assert container.healthcheck.test == ("CMD-SHELL", "curl -f localhost")
    assert container.healthcheck.interval_ns == 5 * SECOND
    assert spec.labels == Labels({"tier": "front"})
    assert spec.endpoint_spec is not None
    assert spec.endpoint_spec.ports[0] == PortConfig(target_port=80, published_port=8080)
    assert spec.endpoint_spec.ports[1].publish_mode is not None
    assert spec.endpoint_spec.ports[1].publish_mode.value == "host"
    placement = spec.task_template.placement
    assert placement is not None and placement.constraints == ("node.role==worker",)
    assert placement.preferences[0].spread is not None
    assert placement.preferences[0].spread.spread_descriptor == "node.labels.rack"
    resources = spec.task_template.resources
    assert resources is not None and resources.reservations is not None
    assert resources.reservations.nano_cpus == 500_000_000
    assert resources.reservations.memory_bytes == 512 * 2**20
    policy = spec.task_template.restart_policy
    assert policy is not None
    assert (policy.condition, policy.max_attempts) == (RestartCondition.ON_FAILURE, 3)
    assert spec.update_config is not None
    assert spec.update_config.parallelism == 2 and spec.update_config.delay_ns == 10 * SECOND
    assert spec.update_config.failure_action is FailureAction.ROLLBACK
    assert spec.update_config.order is UpdateOrder.START_FIRST
    assert spec.update_config.max_failure_ratio == 0.2
    assert spec.rollback_config is not None and spec.rollback_config.monitor_ns == 20 * SECOND


def test_create_modes_and_env_file() -> None:
    assert created("service create --mode global busybox").mode.global_ is not None
    job = created("service create --mode replicated-job --replicas 5 --max-concurrent 2 x").mode
    assert job.replicated_job is not None
    assert (job.replicated_job.max_concurrent, job.replicated_job.total_completions) == (2, 5)
    files = {"app.env": "# comment\nA=1\n\nB=two words\n"}
    spec = created("service create --env-file app.env -e C=3 nginx", files)
    assert spec.task_template.container_spec is not None
    assert spec.task_template.container_spec.env == ("A=1", "B=two words", "C=3")


def test_create_without_a_name_gets_a_random_one() -> None:
    first, second = created("service create nginx").name, created("service create nginx").name
    assert first == second  # the same seed
    adjective, _, surname = first.partition("_")
    assert adjective and surname and adjective.isalpha() and surname.isalpha()


# -- update -------------------------------------------------------------------------------


def test_update_changes_only_what_its_flags_say() -> None:
    assert edited("service update web") == BASE
    spec = edited("service update --image nginx:2 --env-add A=1 --replicas 7 web")
    assert spec.task_template.container_spec == ContainerSpec(image="nginx:2", env=("A=1",))
    assert spec.mode.replicated == ReplicatedService(replicas=7)
    again = edited("service update --env-add A=2 --env-add B=1 --env-rm C web", spec)
    assert again.task_template.container_spec is not None
    assert again.task_template.container_spec.env == ("A=2", "B=1")
    labelled = edited("service update --label-add a=1 --label-add b=2 web")
    assert edited("service update --label-rm a web", labelled).labels == Labels({"b": "2"})
    placed = edited("service update --constraint-add node.role==worker web")
    assert placed.task_template.placement is not None
    unplaced = edited("service update --constraint-rm node.role==worker web", placed)
    assert unplaced.task_template.placement is None


def test_update_ports_and_config() -> None:
    spec = edited("service update --publish-add 8080:80 --update-parallelism 0 web")
    assert spec.endpoint_spec == EndpointSpec(
        ports=(PortConfig(target_port=80, published_port=8080),)
    )
    assert spec.update_config is not None and spec.update_config.parallelism == 0
    assert edited("service update --publish-rm 80 web", spec).endpoint_spec == EndpointSpec()
    assert edited("service update --publish-rm 8080 web", spec).endpoint_spec == spec.endpoint_spec


def test_update_force_rollback_and_scale() -> None:
    forced = one("service update --force web")
    assert isinstance(forced, Change) and forced.force and not forced.rollback
    back = one("service rollback web")
    assert isinstance(back, Change) and back.rollback and back.edit(BASE, Found()) == BASE
    assert isinstance(one("service update --rollback -d web"), Change)
    scaled = parse("service scale web=5 api=2", random.Random(1))
    assert [c.service for c in scaled if isinstance(c, Change)] == ["web", "api"]
    first = scaled[0]
    assert isinstance(first, Change)
    assert first.edit(BASE, Found()).mode.replicated == ReplicatedService(replicas=5)


# -- node ---------------------------------------------------------------------------------


def test_node_commands() -> None:
    update = one("node update --availability drain --label-add zone=east worker-1")
    assert isinstance(update, Call) and update.method == "NodeUpdate"
    assert update.params["availability"] == "drain"
    assert update.params["label_add"] == {"zone": "east"}
    calls = parse("node promote worker-1 worker-2", random.Random(1))
    assert [(c.method, c.params["role"]) for c in calls if isinstance(c, Call)] == [
        ("NodeUpdate", "manager"),
        ("NodeUpdate", "manager"),
    ]
    removal = one("node rm --force worker-3")
    assert isinstance(removal, Call) and removal.params == {"node": "worker-3", "force": True}


# -- Docker's messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("service create --foo nginx", "unknown flag: --foo"),
        ("service create -x nginx", "unknown shorthand flag: 'x' in -x"),
        ("service create --replicas", "flag needs an argument: --replicas"),
        (
            "service create --replicas abc nginx",
            'invalid argument "abc" for "--replicas" flag: strconv.ParseUint: parsing "abc": '
            "invalid syntax",
        ),
        (
            "service create --update-delay 10x nginx",
            'invalid argument "10x" for "--update-delay" flag: time: unknown unit "x" in '
            'duration "10x"',
        ),
        (
            "service create --update-max-failure-ratio lots nginx",
            'invalid argument "lots" for "--update-max-failure-ratio" flag: '
            'strconv.ParseFloat: parsing "lots": invalid syntax',
        ),
        ("service create --name web", '"docker service create" requires at least 1 argument.'),
        ("service update", '"docker service update" requires exactly 1 argument.'),
        (
            "service update --rollback --image x web",
            "other flags may not be combined with --rollback",
        ),
        ("service frobnicate", 'unknown command "frobnicate" for "docker service"'),
        (
            "node update --availability sleepy worker-1",
            'invalid argument "sleepy" for '
            '"--availability" flag: must be one of active, pause, drain',
        ),
        (
            "service create --mode global --replicas 2 x",
            "replicas can only be used with replicated or replicated-job mode",
        ),
        (
            "service create --reserve-memory lots x",
            'invalid argument "lots" for "--reserve-memory" flag: invalid size: \'lots\'',
        ),
    ],
)
def test_docker_messages_for_mistakes(line: str, message: str) -> None:
    assert refused(line) == message


@pytest.mark.parametrize(
    "command",
    ["network ls", "network list", "service ls", "node ls", "swarm init", "swarm leave"],
)
def test_a_command_of_no_arguments_given_one_says_so_as_cobra_does(command: str) -> None:
    """docker/cli's ``cli.NoArgs``: ``"docker network ls" accepts no arguments.``
    and the help hint (the usage lines after it are not reproduced)."""
    with pytest.raises(UsageError) as caught:
        parse(f"{command} extra", random.Random(1))
    name = command.replace(" list", " ls")  # the alias is reported by the command's name
    assert caught.value.message == f'"docker {name}" accepts no arguments.'
    assert caught.value.hint == f"See 'docker {name} --help'."


def test_too_many_arguments_are_refused_as_cobra_does() -> None:
    """``RequiresMaxArgs``: "requires at most"."""
    with pytest.raises(UsageError) as caught:
        CommandParser("thing", least=0, most=2).parse(["a", "b", "c"])
    assert caught.value.message == '"docker thing" requires at most 2 arguments.'
