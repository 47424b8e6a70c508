"""``stack deploy`` against the stock docker 28.2 CLI's reading of compose files:
each case is what docker/cli v28.2.2 does with the file (its refusal, or the spec
it sends), checked from its source and by running the stock ``docker`` binary
(``docker stack config`` reads a file without a daemon)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from cli.compose import ComposeError
from cli.compose.convert import Stack, convert
from cli.compose.load import load
from core.model.service import ServiceSpec
from tests.cli.stack_support import Files, refused, services, stack
from tests.cluster.support import swarm

HEAD = 'version: "3.8"\nservices:\n  a:\n    image: busybox\n'


def converted(
    body: str,
    files: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    name: str = "/w/stack.yml",
) -> Stack:
    """``body`` (under service ``a``'s ``image``) loaded and converted as ``app``."""
    read = Files({name: HEAD + body, **(files or {})})
    return convert("app", load([name], read, environ or {}), read)


def service(body: str, **kwargs: object) -> ServiceSpec:
    spec: ServiceSpec = converted(body, **kwargs).services[0]  # type: ignore[arg-type]
    return spec


def deploy_refusal(body: str, files: Mapping[str, str] | None = None) -> str:
    return refused("stack deploy -c s.yml app", {"s.yml": HEAD + body, **(files or {})})


# -- 1. integers Go's fields cannot hold -------------------------------------------------

DECODING = "decoding failed due to the following error(s):\n\n"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ("    deploy: {replicas: -1}\n", ["cannot parse 'Deploy.Replicas', -1 overflows uint"]),
        (
            "    deploy: {update_config: {parallelism: -1}, restart_policy: {max_attempts: -1},"
            " placement: {max_replicas_per_node: -1}}\n    healthcheck: {retries: -1}\n",
            [
                "cannot parse 'Deploy.update_config.Parallelism', -1 overflows uint",
                "cannot parse 'Deploy.restart_policy.max_attempts', -1 overflows uint",
                "cannot parse 'Deploy.Placement.max_replicas_per_node', -1 overflows uint",
                "cannot parse 'HealthCheck.Retries', -1 overflows uint",
            ],
        ),
        (
            "    secrets: [{source: s, mode: 99999999999999999999}]\nsecrets:\n  s: {file: ./x}\n",
            ["cannot parse 'Secrets[0].Mode', 99999999999999999999 overflows uint32"],
        ),
        (
            "    ulimits: {nofile: 99999999999999999999}\n",
            ["error decoding 'Ulimits[nofile]': invalid type float64 for ulimits"],
        ),
        (
            "    ulimits: {nofile: {soft: 1, hard: 99999999999999999999}}\n",
            ["cannot parse 'Ulimits[nofile].Hard', 99999999999999999999 overflows int64"],
        ),
        (
            "    deploy: {replicas: 18446744073709551616}\n",
            ["cannot parse 'Deploy.Replicas', 18446744073709551616 overflows uint64"],
        ),
    ],
)
def test_integers_out_of_a_go_fields_range_are_refused_at_load(
    body: str, errors: list[str]
) -> None:
    assert deploy_refusal(body, {"x": "1"}) == DECODING + "\n".join(errors)


def test_a_memory_past_int64_is_refused_not_a_traceback() -> None:
    message = deploy_refusal(
        "    deploy: {resources: {limits: {memory: '99999999999999999999999'}}}\n"
    )
    assert message == "service a: invalid amount 99999999999999999999999: value out of range"


# -- 2. bind sources absolute, ~ from HOME ------------------------------------------------


def test_bind_sources_are_made_absolute_and_tilde_is_home() -> None:
    body = (
        '    volumes: ["./host:/host:ro", "~/x:/y", "/abs:/z",\n'
        "              {type: bind, source: ./rel, target: /r}, {type: bind, source: ../up,"
        " target: /u}]\n"
    )
    mounts = service(body, environ={"HOME": "/home/me"}).task_template.container_spec.mounts
    assert [(m.source, m.target, m.read_only) for m in mounts] == [
        ("/w/host", "/host", True),
        ("/home/me/x", "/y", False),
        ("/abs", "/z", False),
        ("/w/rel", "/r", False),
        ("/up", "/u", False),
    ]


def test_the_command_layer_gives_the_directory_it_runs_in() -> None:
    world = swarm(9, managers=1, workers=1)
    files = {"sub/s.yml": HEAD + "    volumes: ['./d:/d', '~:/h']\n"}
    said = stack(world, "stack deploy -d -c sub/s.yml app", files, {"PWD": "/srv", "HOME": "/r"})
    assert said.ok, said.err
    container = services(world)["app_a"].spec.task_template.container_spec
    assert container is not None
    assert [m.source for m in container.mounts] == ["/srv/sub/d", "/r"]


# -- 3. environment: updateEnvironment and kvfile -----------------------------------------


def test_an_empty_or_missing_value_takes_the_shells_and_a_bare_unset_key_is_dropped() -> None:
    spec = service(
        "    env_file: e.env\n    environment: [B=, Z]\n",
        files={"/w/e.env": "X=\nY\nZ=file\n"},
        environ={"B": "shellB", "X": "shellX"},
    )
    assert spec.task_template.container_spec.env == ("B=shellB", "X=shellX", "Z")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A B=1\n", "invalid env file (/w/e.env): variable 'A B' contains whitespaces"),
        ("=x\n", "invalid env file (/w/e.env): no variable name on line '=x'"),
    ],
)
def test_env_file_refusals_are_kvfiles(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as caught:
        service("    env_file: e.env\n", files={"/w/e.env": text})
    assert caught.value.message == f"service a: {message}"


def test_env_file_bom_is_dropped_and_a_missing_file_named_absolutely() -> None:
    spec = service("    env_file: e.env\n", files={"/w/e.env": "\ufeffA=1\r\nB=2"})
    assert spec.task_template.container_spec.env == ("A=1", "B=2")
    with pytest.raises(ComposeError) as caught:
        converted("    env_file: nope.env\n", name="sub/s.yml")
    assert caught.value.message == "service a: open /sub/nope.env: no such file or directory"


# -- 4. ports sorted by published port only -----------------------------------------------


def test_ports_are_sorted_by_published_port_alone_stably() -> None:
    body = (
        '    ports: ["9000:80/udp", "8000:443", {target: 22, published: 8000, protocol: udp},'
        ' "53", "10000-10001:10000-10001"]\n'
    )
    ports = service(body).endpoint_spec.ports
    assert [(str(p.protocol), p.target_port, p.published_port) for p in ports] == [
        ("tcp", 53, 0),
        ("tcp", 443, 8000),
        ("udp", 22, 8000),
        ("udp", 80, 9000),
        ("tcp", 10000, 10000),
        ("tcp", 10001, 10001),
    ]


# -- 8. extra_hosts -------------------------------------------------------------------------


def test_extra_hosts_take_either_separator_and_lose_ipv6_brackets() -> None:
    spec = service('    extra_hosts: ["h1=1.2.3.4", "h2:[::1]", "h3=::2", "bare"]\n')
    assert spec.task_template.container_spec.hosts == ("1.2.3.4 h1", "::1 h2", "::2 h3")
    mapped = service("    extra_hosts: {b: '[::1]', a: 1.2.3.4}\n")
    assert mapped.task_template.container_spec.hosts == ("1.2.3.4 a", "::1 b")


# -- 5. capabilities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "add", "drop"),
    [
        (
            "    cap_add: [net_admin, CAP_SYS_TIME, ' chown ', NET_ADMIN, reset]\n"
            "    cap_drop: [chown, mknod, RESET]\n",
            ("CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_TIME"),
            ("CAP_MKNOD",),
        ),
        ("    cap_add: [all, net_admin]\n    cap_drop: [ALL]\n", ("ALL",), ()),
        ("    cap_add: [net_admin]\n    cap_drop: [all, chown]\n", ("CAP_NET_ADMIN",), ("ALL",)),
    ],
)
def test_capabilities_are_dockers_effective_add_and_drop(
    body: str, add: tuple[str, ...], drop: tuple[str, ...]
) -> None:
    container = service(body).task_template.container_spec
    assert (container.capability_add, container.capability_drop) == (add, drop)


# -- 6. interpolation as template.go -------------------------------------------------------


def test_a_default_is_looked_for_before_a_required_mark() -> None:
    spec = service('    environment: ["URL=${URL:-http://x/?q=1}", "B=${B-a?b}"]\n')
    assert spec.task_template.container_spec.env == ("B=a?b", "URL=http://x/?q=1")


@pytest.mark.parametrize(
    ("body", "environ", "message"),
    [
        (
            '    environment: ["${NOPE:?gone}"]\n',
            {},
            "invalid interpolation format for services.a.environment.[]: "
            '"required variable NOPE is missing a value: gone"; '
            "you may need to escape any $ with another $",
        ),
        ('    deploy: {replicas: "3"}\n', {}, "services.a.deploy.replicas must be a integer"),
        ("    init: ${U}\n", {"U": "true"}, "services.a.init must be a boolean"),
        (
            "    deploy: {replicas: '${R}'}\n",
            {"R": "x"},
            "error while interpolating services.a.deploy.replicas: failed to cast to expected "
            'type: strconv.Atoi: parsing "x": invalid syntax',
        ),
    ],
)
def test_interpolation_refusals_are_dockers(
    body: str, environ: dict[str, str], message: str
) -> None:
    assert refused("stack deploy -c s.yml app", {"s.yml": HEAD + body}, environ) == message


def test_a_substituted_number_is_cast() -> None:
    assert service("    deploy: {replicas: '${R}'}\n", environ={"R": "4"}).mode.replicated


# -- 7. schema types docker 28.2 refuses ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    deploy: {resources: {limits: {cpus: 0.5}}}\n",
            "services.a.deploy.resources.limits.cpus must be a string",
        ),
        (
            "    deploy: {resources: {reservations: {memory: 1024}}}\n",
            "services.a.deploy.resources.reservations.memory must be a string",
        ),
        (
            "    environment: {B: true}\n",
            "services.a.environment.B must be a string, number or null",
        ),
        ("    labels: {l: false}\n", "services.a.labels.l must be a string, number or null"),
    ],
)
def test_schema_types_docker_refuses(body: str, message: str) -> None:
    assert deploy_refusal(body) == message


# -- 9. nocopy in the short syntax ----------------------------------------------------------


def test_a_short_volume_with_nocopy_sets_no_copy() -> None:
    spec = service('    volumes: ["vol:/x:nocopy", "vol:/y:ro"]\nvolumes:\n  vol: {}\n')
    mounts = spec.task_template.container_spec.mounts
    assert [(m.target, m.read_only, m.volume_options.no_copy) for m in mounts] == [
        ("/x", False, True),
        ("/y", True, False),
    ]


# -- 10. one target per secret or config ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    secrets: [s, {source: t, target: s}]\n",
            "service a: duplicate secret target for app_t not allowed",
        ),
        (
            "    configs: [{source: s, target: /c}, {source: t, target: /c}]\n",
            "service a: duplicate config target for app_t not allowed",
        ),
    ],
)
def test_two_secrets_or_configs_at_one_target_are_refused(body: str, message: str) -> None:
    declared = "secrets" if "secrets" in body else "configs"
    text = body + f"{declared}:\n  s: {{file: ./x}}\n  t: {{file: ./x}}\n"
    assert deploy_refusal(text, {"x": "1"}) == message


# -- 11. stack ps passes the daemon's task filters --------------------------------------------


def test_stack_ps_takes_the_daemons_task_filters() -> None:
    world = swarm(9, managers=1, workers=1)
    text = (
        'version: "3.8"\nservices:\n'
        "  web: {image: nginx, deploy: {replicas: 2, labels: {tier: front}}}\n"
        "  db: {image: redis}\n"
    )
    assert stack(world, "stack deploy -d -c s.yml app", {"s.yml": text}).ok
    names = "--format '{{.Name}}'"

    def listed(filters: str) -> list[str]:
        said = stack(world, f"stack ps {filters} {names} app")
        assert said.ok, said.err
        return sorted(said.out.splitlines())

    assert listed("-f service=app_web") == ["app_web.1", "app_web.2"]
    assert listed("-f label=tier=front") == ["app_web.1", "app_web.2"]
    assert listed("-f service=app_db -f service=app_web -f name=app_db") == ["app_db.1"]
    assert listed("--no-resolve -f runtime=container -f label=tier") == ["app_web.1", "app_web.2"]
    assert refused("stack ps -f bogus=1 app") == "invalid filter 'bogus'"


# -- what the stock docker CLI sends ----------------------------------------------------------

RICH = """
version: "3.8"
services:
  web:
    image: nginx:1.25
    environment: [B=, Z, "A=1"]
    env_file: e.env
    cap_add: [net_admin, CAP_SYS_TIME, reset]
    cap_drop: [chown, NET_ADMIN]
    ports: ["9000:80/udp", "8000:443", {target: 22, published: 8000, protocol: udp}, "53"]
    volumes: ["./host:/host:ro", "~/x:/y", "vol:/data:nocopy", {type: tmpfs, target: /t}]
    extra_hosts: ["h1=1.2.3.4", "h2:[::1]", "h3=::2"]
volumes:
  vol: {}
"""
#: docker 28.2.2's ``stack deploy -c rich.yml app`` (run in /w, with B=shellB X=shellX
#: HOME=/home/me, e.env beside it) against ``shoal sim serve``, then ``docker service
#: inspect app_web``: the parts of ``.Spec`` the compose file decides.
DOCKER_SENT = {
    "Labels": {"com.docker.stack.image": "nginx:1.25", "com.docker.stack.namespace": "app"},
    "ContainerSpec": {
        "Image": "nginx:1.25",
        "Labels": {"com.docker.stack.namespace": "app"},
        "Env": ["A=1", "B=shellB", "X=shellX", "Z"],
        "Mounts": [
            {"Type": "bind", "Source": "/w/host", "Target": "/host", "ReadOnly": True},
            {"Type": "bind", "Source": "/home/me/x", "Target": "/y"},
            {
                "Type": "volume",
                "Source": "app_vol",
                "Target": "/data",
                "VolumeOptions": {
                    "NoCopy": True,
                    "Labels": {"com.docker.stack.namespace": "app"},
                },
            },
            {"Type": "tmpfs", "Target": "/t"},
        ],
        "Hosts": ["1.2.3.4 h1", "::1 h2", "::2 h3"],
        "CapabilityAdd": ["CAP_NET_ADMIN", "CAP_SYS_TIME"],
        "CapabilityDrop": ["CAP_CHOWN"],
    },
    "EndpointSpec": {
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 53, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8000, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 22, "PublishedPort": 8000},
            {"Protocol": "udp", "TargetPort": 80, "PublishedPort": 9000, "PublishMode": "ingress"},
        ]
    },
}


def test_a_rich_service_converts_to_what_the_docker_cli_sends() -> None:
    read = Files({"/w/rich.yml": RICH, "/w/e.env": "X=\nY\nZ=file\n"})
    environ = {"B": "shellB", "X": "shellX", "HOME": "/home/me"}
    spec = convert("app", load(["/w/rich.yml"], read, environ), read).services[0].to_json()
    container = spec["TaskTemplate"]["ContainerSpec"]  # type: ignore[index, call-overload]
    sent = {
        "Labels": spec["Labels"],
        "ContainerSpec": {k: container.get(k) for k in DOCKER_SENT["ContainerSpec"]},
        "EndpointSpec": spec["EndpointSpec"],
    }
    assert sent == DOCKER_SENT


# -- 12. docker/cli's words -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    secrets: [s]\nsecrets:\n  s: {external: {name: x}, name: y}\n",
            "service a: secret s: secret.external.name and secret.name conflict; "
            "only use secret.name",
        ),
        (
            "volumes:\n  v: {external: true, driver: local}\n",
            'conflicting parameters "external" and "driver" specified for volume "v"',
        ),
        (
            "volumes:\n  v: {external: true, labels: [a=b]}\n",
            'conflicting parameters "external" and "labels" specified for volume "v"',
        ),
        (
            '    restart: "on-failure:abc"\n',
            "service a: invalid restart policy format: maximum retry count must be an integer",
        ),
        ('    restart: "sometimes"\n', "service a: unknown restart policy: sometimes"),
        ("    deploy: {mode: bogus}\n", "service a: Unknown mode: bogus"),
    ],
)
def test_refusals_in_docker_clis_words(body: str, message: str) -> None:
    assert deploy_refusal(body) == message


def test_the_old_restart_key_converts_as_docker_does() -> None:
    policy = service('    restart: "on-failure:3"\n').task_template.restart_policy
    assert policy is not None and policy.max_attempts == 3
    assert service("    restart: always\n").task_template.restart_policy.max_attempts == 0
