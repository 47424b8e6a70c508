"""``docker stack deploy|ls|services|ps|rm`` against a simulated swarm: the seeds'
stacks and real-world compose files deploy and converge, a redeploy converges to
the file (an unchanged service is not rolled), ``--prune`` and ``rm`` clean up,
and every bad file is refused in Docker's words with nothing made."""

from __future__ import annotations

import base64

import pytest

from cli.compose.convert import LABEL_IMAGE, LABEL_NAMESPACE
from core.model.enums import MountType, RestartCondition
from sim.cluster import ClusterWorld
from tests.cli.stack_support import named, refused, services, stack
from tests.cluster.support import running, swarm

WHOAMI = """
version: "3.7"
services:
  whoami:
    image: training/whoami:latest
    networks:
      - whoami-net
    ports:
      - 81:8000
    deploy:
      replicas: 6
      update_config:
        parallelism: 2
        delay: 10s
      labels:
        app: sample-app
        environment: prod-south
networks:
  whoami-net:
    driver: overlay
"""
PETS = """
version: "3.1"
services:
  web:
    image: chrch/docker-pets:1.0
    deploy:
      replicas: 3
    ports:
      - "3000:3000"
    networks:
      - pets-net
  db:
    image: consul:0.7.2
    command: agent -server -ui -client=0.0.0.0 -bootstrap-expect=1
    volumes:
      - pets-data:/consul/data
    networks:
      - pets-net
networks:
  pets-net:
    driver: overlay
volumes:
  pets-data:
"""
FLASK = """
version: "3.8"
services:
  flask:
    image: flask-demo:latest
    ports:
      - "8080:5000"
  redis:
    image: redis:alpine
"""
APP = """
version: "3.8"
services:
  web:
    image: nginx:${TAG:-1.25}
    ports: ["8080:80"]
    deploy: {replicas: 3}
    secrets: [db_pw]
    configs:
      - source: site
        target: /etc/nginx/conf.d/site.conf
        mode: 0440
  db:
    image: redis
    environment:
      - MODE=primary
secrets:
  db_pw: {file: pw.txt}
configs:
  site: {file: site.conf}
"""
FILES = {"app.yml": APP, "pw.txt": "s3cret", "site.conf": "server {}\n"}


@pytest.fixture
def world() -> ClusterWorld:
    return swarm(5, managers=1, workers=3)


def converged(world: ClusterWorld, seconds: float = 60) -> dict[str, int]:
    world.run_for(seconds)
    return {name: len(running(world, s.id)) for name, s in services(world).items()}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("whoami", WHOAMI, {"whoami_whoami": 6}),
        ("pets", PETS, {"pets_web": 3, "pets_db": 1}),
        ("flask-demo", FLASK, {"flask-demo_flask": 1, "flask-demo_redis": 1}),
    ],
)
def test_the_seeds_stacks_deploy_and_converge(
    world: ClusterWorld, name: str, text: str, expected: dict[str, int]
) -> None:
    said = stack(world, f"docker stack deploy -c {name}.yml {name}", {f"{name}.yml": text})
    assert said.ok, said.err
    assert converged(world) == expected
    assert stack(world, "stack ls").out.splitlines()[1].split() == [name, str(len(expected))]


def test_whoami_carries_the_files_settings(world: ClusterWorld) -> None:
    said = stack(world, "stack deploy --compose-file whoami.yml sample", {"whoami.yml": WHOAMI})
    assert said.out.splitlines() == [
        "Creating network sample_whoami-net",
        "Creating service sample_whoami",
    ]
    service = services(world)["sample_whoami"]
    spec = service.spec
    assert dict(spec.labels) == {
        "app": "sample-app",
        "environment": "prod-south",
        LABEL_NAMESPACE: "sample",
        LABEL_IMAGE: "training/whoami:latest",
    }
    assert spec.update_config is not None
    assert (spec.update_config.parallelism, spec.update_config.delay_ns) == (2, 10 * 10**9)
    port = spec.endpoint_spec.ports[0] if spec.endpoint_spec else None
    assert port is not None and (port.published_port, port.target_port) == (81, 8000)
    network = next(
        n
        for n in world.leader_store().tables["networks"].values()
        if n.spec.name == "sample_whoami-net"
    )
    assert spec.task_template.networks[0].target == network.id
    assert spec.task_template.networks[0].aliases == ("whoami",)
    assert dict(network.spec.labels) == {LABEL_NAMESPACE: "sample"}
    assert network.spec.driver_configuration is not None
    assert network.spec.driver_configuration.name == "overlay"
    assert converged(world) == {"sample_whoami": 6}
    listed = stack(world, "stack services sample").out.splitlines()
    assert listed[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert listed[1].split()[1:] == [
        "sample_whoami", "replicated", "6/6", "training/whoami:latest", "*:81->8000/tcp"
    ]  # fmt: skip


def test_pets_db_mounts_the_stacks_volume(world: ClusterWorld) -> None:
    stack(world, "stack deploy -c pets.yml pets", {"pets.yml": PETS})
    db = services(world)["pets_db"].spec.task_template.container_spec
    assert db is not None
    assert db.args == ("agent", "-server", "-ui", "-client=0.0.0.0", "-bootstrap-expect=1")
    (mount,) = db.mounts
    assert (mount.type, mount.source, mount.target) == (
        MountType.VOLUME,
        "pets_pets-data",
        "/consul/data",
    )
    assert mount.volume_options is not None
    assert dict(mount.volume_options.labels) == {LABEL_NAMESPACE: "pets"}


def test_the_voting_apps_swarm_file_deploys_unchanged(world: ClusterWorld) -> None:
    said = stack(world, "stack deploy -c stacks/voting-app-2020.yml vote")
    assert said.ok, said.err
    assert said.out.splitlines() == [
        "Creating network vote_backend",
        "Creating network vote_default",
        "Creating network vote_frontend",
        "Creating service vote_db",
        "Creating service vote_redis",
        "Creating service vote_result",
        "Creating service vote_visualizer",
        "Creating service vote_vote",
        "Creating service vote_worker",
    ]
    specs = {name: s.spec for name, s in services(world).items()}
    worker = specs["vote_worker"]
    assert worker.task_template.placement is not None
    assert worker.task_template.placement.constraints == ("node.role == manager",)
    policy = worker.task_template.restart_policy
    assert policy is not None
    assert (policy.condition, policy.delay_ns, policy.max_attempts, policy.window_ns) == (
        RestartCondition.ON_FAILURE, 10 * 10**9, 3, 120 * 10**9
    )  # fmt: skip
    assert worker.labels["APP"] == "VOTING"
    assert len(worker.task_template.networks) == 2
    db = specs["vote_db"].task_template.container_spec
    assert db is not None and db.mounts[0].source == "vote_db-data"
    assert db.env == ("POSTGRES_PASSWORD=postgres", "POSTGRES_USER=postgres")
    visualizer = specs["vote_visualizer"].task_template.container_spec
    assert visualizer is not None and visualizer.stop_grace_period_ns == 90 * 10**9
    assert visualizer.mounts[0].type is MountType.BIND
    assert converged(world) == {
        "vote_db": 1, "vote_redis": 1, "vote_result": 1, "vote_visualizer": 1,
        "vote_vote": 2, "vote_worker": 1,
    }  # fmt: skip
    on_manager = [t for t in world.tasks() if t.service_id == services(world)["vote_worker"].id]
    manager = next(
        n.id
        for n in world.leader_store().tables["nodes"].values()
        if n.description.hostname == "manager-1"
    )
    assert {t.node_id for t in on_manager} == {manager}


@pytest.mark.parametrize(
    ("path", "warnings", "expected"),
    [
        ("voting-app.yml", "", {"redis": 1, "db": 1, "vote": 2, "result": 1, "worker": 2}),
        (
            "wordpress-mysql.yaml",
            "Ignoring unsupported options: restart\n\nIgnoring deprecated options:\n\n"
            "expose: Exposing ports is unnecessary - services on the same network can access "
            "each other's containers on any port.\n",
            {"db": 1, "wordpress": 1},
        ),
        (
            "prometheus-grafana.yaml",
            "Ignoring unsupported options: restart\n\nIgnoring deprecated options:\n\n"
            "container_name: Setting the container name is not supported.\n",
            {"prometheus": 1, "grafana": 1},
        ),
    ],
)
def test_real_world_files_deploy_unchanged(
    world: ClusterWorld, path: str, warnings: str, expected: dict[str, int]
) -> None:
    said = stack(world, f"stack deploy -d -c stacks/{path} app")
    assert said.ok, said.err
    assert said.err == warnings
    assert converged(world) == {f"app_{k}": v for k, v in expected.items()}


def test_a_bind_mount_is_relative_to_the_compose_file(world: ClusterWorld) -> None:
    stack(world, "stack deploy -d -c stacks/prometheus-grafana.yaml mon")
    container = services(world)["mon_prometheus"].spec.task_template.container_spec
    assert container is not None
    assert [(m.type, m.source) for m in container.mounts] == [
        (MountType.BIND, "/stacks/prometheus"),  # a scenario's directory is /
        (MountType.VOLUME, "mon_prom_data"),
    ]


# -- redeploying -----------------------------------------------------------------------------


def test_a_redeploy_converges_to_the_file(world: ClusterWorld) -> None:
    first = stack(world, "stack deploy -c app.yml app", FILES)
    assert first.out.splitlines() == [
        "Creating network app_default",
        "Creating secret app_db_pw",
        "Creating config app_site",
        "Creating service app_db",
        "Creating service app_web",
    ]
    assert first.err == (
        "Since --detach=false was not specified, tasks will be created in the background.\n"
        "In a future release, --detach=false will become the default."
    )
    assert converged(world) == {"app_db": 1, "app_web": 3}
    tasks = {t.id for t in world.tasks()}
    ids = {name: s.id for name, s in services(world).items()}

    again = stack(world, "stack deploy -d -c app.yml app", FILES)
    assert again.out.splitlines() == [
        f"Updating service app_db (id: {ids['app_db']})",
        f"Updating service app_web (id: {ids['app_web']})",
    ]
    assert again.err == ""
    world.run_for(30)
    assert {t.id for t in world.tasks()} == tasks  # an unchanged spec rolls nothing

    stack(world, "service update -d --replicas 1 app_web", FILES)  # not a stack command
    world.run_for(10)
    stack(world, "stack deploy -d -c app.yml app", FILES)
    assert converged(world, 30) == {"app_db": 1, "app_web": 3}

    world.call("manager-1", "ServiceRemove", service="app_db")
    recreated = stack(world, "stack deploy -d -c app.yml app", FILES)
    assert "Creating service app_db" in recreated.out.splitlines()
    assert converged(world, 30) == {"app_db": 1, "app_web": 3}

    changed = stack(world, "stack deploy -d -c app.yml app", FILES, {"TAG": "1.26"})
    assert changed.ok
    world.run_for(60)
    web = services(world)["app_web"]
    assert web.spec.task_template.container_spec.image == "nginx:1.26"
    assert {t.spec.container_spec.image for t in running(world, web.id)} == {"nginx:1.26"}


def test_prune_removes_services_no_longer_in_the_file(world: ClusterWorld) -> None:
    stack(world, "stack deploy -d -c app.yml app", FILES)
    web_only = APP.replace("  db:\n    image: redis\n    environment:\n      - MODE=primary\n", "")
    files = {**FILES, "web.yml": web_only}
    kept = stack(world, "stack deploy -d -c web.yml app", files)
    assert sorted(services(world)) == ["app_db", "app_web"]  # without --prune, kept
    pruned = stack(world, "stack deploy -d --prune -c web.yml app", files)
    assert pruned.out.splitlines()[0] == "Removing service app_db"
    assert sorted(services(world)) == ["app_web"]
    assert kept.ok and pruned.ok


def test_interpolation_takes_the_environment_over_a_dot_env_file(world: ClusterWorld) -> None:
    files = {
        **FILES,
        "deploy/app.yml": APP,
        "deploy/.env": "TAG=1.24\n",
        "deploy/pw.txt": "x",
        "deploy/site.conf": "y",
    }
    stack(world, "stack deploy -d -c deploy/app.yml app", files)
    assert services(world)["app_web"].spec.task_template.container_spec.image == "nginx:1.24"
    stack(world, "stack deploy -d -c deploy/app.yml app", files, {"TAG": "2"})
    assert services(world)["app_web"].spec.task_template.container_spec.image == "nginx:2"


def test_secrets_and_configs_carry_the_files_and_their_targets(world: ClusterWorld) -> None:
    stack(world, "stack deploy -d -c app.yml app", FILES)
    store = world.leader_store()
    secret = next(s for s in store.tables["secrets"].values() if s.spec.name == "app_db_pw")
    assert base64.b64decode(secret.spec.data) == b"s3cret"
    assert dict(secret.spec.labels) == {LABEL_NAMESPACE: "app"}
    container = services(world)["app_web"].spec.task_template.container_spec
    (ref,) = container.secrets
    assert (ref.secret_id, ref.secret_name, ref.file.name, ref.file.mode) == (
        secret.id,
        "app_db_pw",
        "db_pw",
        0o444,
    )
    (config,) = container.configs
    assert (config.config_name, config.file.name, config.file.mode) == (
        "app_site",
        "/etc/nginx/conf.d/site.conf",
        0o440,
    )


# -- ls, services, ps, rm -----------------------------------------------------------------------


def test_listings_filter_and_format(world: ClusterWorld) -> None:
    stack(world, "stack deploy -d -c app.yml app", FILES)
    stack(world, "stack deploy -d -c pets.yml pets-10", {"pets.yml": PETS})
    stack(world, "stack deploy -d -c whoami.yml pets-9", {"whoami.yml": WHOAMI})
    world.run_for(30)
    assert stack(world, "stack ls").out.splitlines() == [
        "NAME      SERVICES",
        "app       2",
        "pets-9    1",
        "pets-10   2",
    ]  # natural order: 9 before 10
    assert stack(world, "stack ls --format '{{.Name}}:{{.Services}}'").out == (
        "app:2\npets-9:1\npets-10:2"
    )
    ids = {name: s.id[:12] for name, s in services(world).items()}
    assert stack(world, "stack services -q app").out.splitlines() == [ids["app_db"], ids["app_web"]]
    assert (
        stack(world, "stack services --filter name=app_w --format {{.Name}} app").out == "app_web"
    )
    ps = stack(world, "stack ps --filter desired-state=running --format '{{.Name}} {{.Image}}' app")
    assert ps.out.splitlines() == [
        "app_db.1 redis", "app_web.1 nginx:1.25", "app_web.2 nginx:1.25", "app_web.3 nginx:1.25"
    ]  # fmt: skip
    assert len(stack(world, "stack ps -q --no-trunc app").out.splitlines()[0]) == 25
    nothing = stack(world, "stack services nope")
    assert (nothing.ok, nothing.out, nothing.err) == (True, "", "Nothing found in stack: nope")
    missing = stack(world, "stack ps nope")
    assert (missing.ok, missing.err) == (False, "nothing found in stack: nope")


def test_rm_removes_everything_the_stack_made(world: ClusterWorld) -> None:
    stack(world, "stack deploy -d -c app.yml app", FILES)
    world.run_for(20)
    removed = stack(world, "stack rm app nope")
    assert removed.ok
    assert removed.out.splitlines() == [
        "Removing service app_db",
        "Removing service app_web",
        "Removing secret app_db_pw",
        "Removing config app_site",
        "Removing network app_default",
    ]
    assert removed.err == "Nothing found in stack: nope"
    assert services(world) == {}
    assert named(world, "secrets") == named(world, "configs") == []
    assert named(world, "networks") == ["ingress"]
    world.run_for(20)
    assert world.tasks() == [] or all(t.desired_state.name != "RUNNING" for t in world.tasks())


def test_an_external_network_must_exist(world: ClusterWorld) -> None:
    text = FLASK + "networks:\n  default:\n    external:\n      name: shared\n"
    refused_deploy = stack(world, "stack deploy -d -c f.yml f", {"f.yml": text})
    assert not refused_deploy.ok
    assert refused_deploy.err == (
        'network "shared" is declared as external, but could not be found. You need to '
        "create a swarm-scoped network before the stack is deployed"
    )
    stack(world, "network create -d overlay shared")
    assert stack(world, "stack deploy -d -c f.yml f", {"f.yml": text}).ok
    assert named(world, "networks") == ["ingress", "shared"]


# -- refusals -------------------------------------------------------------------------------------


WEB = "services:\n  web:\n    image: x\n"
BAD_FILES = [
    ("- a\n- b\n", "top-level object must be a mapping"),
    ("version: '2'\nservices: {}\n", "unsupported Compose file version: 2"),
    (WEB + "    foo: 1\n", "services.web Additional property foo is not allowed"),
    ("service:\n  web: {}\n", "(root) Additional property service is not allowed"),
    (WEB + "    deploy: {replicas: [1]}\n", "services.web.deploy.replicas must be a integer"),
    (  # Docker casts only what a substitution changed: the schema refuses the rest
        WEB + "    deploy: {replicas: many}\n",
        "services.web.deploy.replicas must be a integer",
    ),
    (WEB + "    command: 3\n", "services.web.command must be a string or list"),
    (WEB + "    ports: [{target: 80, mode: 3}]\n", "services.web.ports.0.mode must be a string"),
    (
        WEB + "    stop_grace_period: 10y\n",
        "services.web.stop_grace_period Does not match format 'duration'",
    ),
    (WEB + "    ports: ['80:80:80:80']\n", "services.web.ports.0 Does not match format 'ports'"),
    (
        "services:\n  web:\n    build: .\n",
        "invalid image reference for service web: no image specified",
    ),
    (WEB + "    networks: [back]\n", 'service web: undefined network "back"'),
    (WEB + "    secrets: [pw]\n", 'service web: undefined secret "pw"'),
    (WEB + "    volumes: ['data:/d']\n", 'service web: undefined volume "data"'),
    (
        WEB + "    deploy: {mode: global, replicas: 2}\n",
        "service web: replicas can only be used with replicated or replicated-job mode",
    ),
    (
        "services:\n  web:\n    image: ${IMAGE?set IMAGE}\n",
        'invalid interpolation format for services.web.image: "required variable IMAGE is '
        'missing a value: set IMAGE"; you may need to escape any $ with another $',
    ),
    (
        WEB + "    mem_limit: 1g\n",
        "compose file contains unsupported options:\n\n"
        "mem_limit: Set resource limits using deploy.resources\n",
    ),
    (WEB + "  web:\n    image: y\n", 'yaml: line 4: mapping key "web" already defined at line 2'),
    ("services: [\n", "yaml: line 2: expected the node content, but found '<stream end>'"),
    (
        "secrets:\n  pw: {file: nowhere.txt}\nservices: {}\n",
        "open nowhere.txt: no such file or directory",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_files_are_refused_in_dockers_words(
    world: ClusterWorld, text: str, message: str
) -> None:
    assert refused("stack deploy -c bad.yml app", {"bad.yml": text}) == message
    assert named(world, "networks") == ["ingress"] and services(world) == {}


def test_command_lines_the_cli_refuses() -> None:
    assert refused("stack deploy app") == "Specify a Compose file (with --compose-file)"
    assert (
        refused("stack deploy -c missing.yml app") == "open missing.yml: no such file or directory"
    )
    assert refused("stack deploy -c a.yml '  '", {"a.yml": FLASK}) == 'invalid stack name: "  "'
    assert refused("stack deploy --resolve-image sometimes -c a.yml app", {"a.yml": FLASK}) == (
        "Invalid option sometimes for flag --resolve-image"
    )
    assert refused(
        "stack deploy -c a.yml -c b.yml app", {"a.yml": FLASK, "b.yml": "version: '3.1'\n"}
    ) == ("version mismatched between two composefiles : 3.8 and 3.1")
    assert refused("stack ps") == '"docker stack ps" requires exactly 1 argument.'
    assert refused("stack frob") == 'unknown command "frob" for "docker stack"'


def test_several_files_merge_in_order(world: ClusterWorld) -> None:
    override = (
        "version: '3.8'\nservices:\n  flask:\n"
        "    deploy: {replicas: 2}\n    environment: {DEBUG: '1'}\n"
    )
    said = stack(
        world,
        "stack deploy -d -c base.yml,over.yml demo",
        {"base.yml": FLASK, "over.yml": override},
    )
    assert said.ok, said.err
    flask = services(world)["demo_flask"].spec
    assert flask.mode.replicated is not None and flask.mode.replicated.replicas == 2
    assert flask.task_template.container_spec.env == ("DEBUG=1",)
    assert flask.task_template.container_spec.image == "flask-demo:latest"
