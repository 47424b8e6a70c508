"""The command language against a simulated swarm: Docker's command lines do what
they say to the store and to the running tasks."""

from __future__ import annotations

import io
import json
import random
import re

import pytest

from cli.commands.common import Call
from cli.commands.language import parse
from cli.commands.run import Outcome, execute
from cli.output.answers import render
from cli.output.template import TemplateError
from cli.sim_shell import Shell
from core.model.enums import NodeAvailability, UpdateState
from core.model.node import Node
from core.model.service import Service
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import running, swarm
from tests.cluster.updates import images_running


def run(world: ClusterWorld, line: str, host: str = "manager-1") -> list[Outcome]:
    def send(method: str, params: dict[str, object]) -> object:
        return world.call(host, method, **params)

    return [execute(c, send, host) for c in parse(line, random.Random(7))]  # type: ignore[arg-type]


def ok(world: ClusterWorld, line: str) -> object:
    outcomes = run(world, line)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return outcomes[-1].value


def service_named(world: ClusterWorld, name: str) -> Service:
    store = world.leader_store()
    assert store is not None
    found = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    return next(s for s in found if s.spec.name == name)


def test_create_update_rollback_scale_and_remove() -> None:
    world = swarm(1)
    service_id = ok(world, "docker service create --name web --replicas 3 nginx:1")
    assert world.run_until(lambda: len(running(world, str(service_id))) == 3, 60)
    ok(world, "docker service update --image nginx:2 --update-parallelism 2 web")
    done = lambda: service_named(world, "web").update_status  # noqa: E731
    assert world.run_until(
        lambda: (done() or None) is not None and done().state is UpdateState.COMPLETED, 120
    )  # type: ignore[union-attr]
    assert images_running(world, str(service_id)) == ["nginx:2"] * 3
    ok(world, "docker service rollback web")
    assert world.run_until(lambda: images_running(world, str(service_id)) == ["nginx:1"] * 3, 120)
    ok(world, "docker service scale web=5")
    assert world.run_until(lambda: len(running(world, str(service_id))) == 5, 60)
    before = {t.id for t in running(world, str(service_id))}
    ok(world, "docker service update --label-add tier=front web")  # redeploys nothing
    world.run_for(20)
    assert {t.id for t in running(world, str(service_id))} == before
    ok(world, "docker service rm web")
    assert world.run_until(
        lambda: not world.running_containers() or not any(world.running_containers().values()), 60
    )


def test_node_commands_and_errors_from_the_manager() -> None:
    world = swarm(1)
    ok(world, "node update --availability drain --label-add zone=east worker-1")
    store = world.leader_store()
    assert store is not None
    node = next(
        n
        for n in store.tables["nodes"].values()
        if isinstance(n, Node) and n.description.hostname == "worker-1"
    )
    assert node.spec.availability is NodeAvailability.DRAIN
    assert dict(node.spec.labels) == {"zone": "east"}
    (missing,) = run(world, "service update --image x nowhere")
    assert not missing.ok and "service nowhere not found" in missing.error
    (busy,) = run(world, "node rm worker-2")
    worker = next(n.id for n in nodes(world) if n.description.hostname == "worker-2")
    assert not busy.ok and busy.error.endswith(f"node {worker} is not down and can't be removed")


# -- what the shell prints for an answer (the shell's own context, cli.output.answers) ------


def printed(world: ClusterWorld, line: str, host: str = "manager-1") -> str:
    """``line`` carried out and printed as the shell prints it."""
    shell = Shell(world, io.StringIO(), random.Random(7))
    texts = []
    for outcome in run(world, line, host):
        assert outcome.ok, outcome.error
        call = outcome.command
        assert isinstance(call, Call)
        text = render(call.show, call.view, call.params, outcome.value, shell._context(host))
        assert text is not None
        texts.append(text)
    return "\n".join(texts)


TALKER = ImageBehaviour(output=("listening on :80", "ready"))


def test_service_logs_print_each_line_after_its_task_and_node() -> None:
    world = swarm(1, managers=1, workers=2, talker=TALKER)
    service_id = str(ok(world, "docker service create --name web --replicas 2 talker"))
    assert world.run_until(lambda: len(running(world, service_id)) == 2, 60)
    hosts = {n.id: n.description.hostname for n in nodes(world)}
    expected = []
    for task in sorted(running(world, service_id), key=lambda t: t.slot):
        context = f"web.{task.slot}.{task.id[:12]}@{hosts[task.node_id]}"
        expected += [f"{context}    | listening on :80", f"{context}    | ready"]
    out = printed(world, "docker service logs web").splitlines()
    assert sorted(out) == sorted(expected) and "Logs" not in out
    short = printed(world, "docker service logs --no-task-ids web").splitlines()
    assert {line.split("    | ")[0].split("@")[0] for line in short} == {"web.1", "web.2"}
    stamped = printed(world, "docker service logs -t web").splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z web\.", s) for s in stamped)


def test_service_logs_take_a_task_id_or_a_unique_prefix_of_one() -> None:
    world = swarm(1, managers=1, workers=2, talker=TALKER)
    service_id = str(ok(world, "docker service create --name web --replicas 10 talker"))
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    task = next(t for t in running(world, service_id) if t.slot == 3)
    host = next(n.description.hostname for n in nodes(world) if n.id == task.node_id)
    for ref in (task.id, task.id[:8]):
        assert printed(world, f"docker service logs {ref}").splitlines() == [
            f"web.3.{task.id[:12]}@{host}    | listening on :80",
            f"web.3.{task.id[:12]}@{host}    | ready",
        ]
    # a service pads one-digit slots to its replicas' width, as docker/cli does
    whole = printed(world, "docker service logs --no-task-ids web").splitlines()
    assert f"web.3@{host}     | ready" in whole
    (missing,) = run(world, "docker service logs nope")
    assert missing.error == "service nope not found"  # dockerd words a failed lookup itself


def nodes(world: ClusterWorld) -> list[Node]:
    store = world.leader_store()
    assert store is not None
    return [n for n in store.tables["nodes"].values() if isinstance(n, Node)]


def test_format_templates_on_inspect_and_listings() -> None:
    world = swarm(1, managers=1, workers=2)
    ok(world, "docker service create --name web --replicas 2 -p 8080:80 nginx:1")
    world.run_for(20)
    ports = printed(world, "service inspect --format '{{json .Endpoint.Spec.Ports}}' web")
    assert json.loads(ports) == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}
    ]
    assert printed(
        world, "service inspect -f '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}' web"
    ) == ("web 2")
    assert printed(world, "node inspect --format '{{.Description.Hostname}}' self") == "manager-1"
    assert printed(world, "service ls --format 'table {{.Name}}\\t{{.Replicas}}\\t{{.Ports}}'") == (
        "NAME      REPLICAS   PORTS\nweb       2/2        *:8080->80/tcp"
    )
    assert sorted(
        printed(world, "service ps web --format '{{.Name}} {{.DesiredState}}'").split("\n")
    ) == [
        "web.1 Running",
        "web.2 Running",
    ]
    hosts = printed(world, "node ls --format '{{.Hostname}}{{if .Self}} (me){{end}}'")
    assert hosts.splitlines() == ["manager-1 (me)", "worker-1", "worker-2"]
    row = json.loads(printed(world, "node ls --filter name=worker-1 --format json"))
    assert (row["Hostname"], row["Self"], row["Status"]) == ("worker-1", False, "Ready")
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type"):
        printed(world, "service ls --format '{{.Nope}}'")
