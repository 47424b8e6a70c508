"""The command language against a simulated swarm: Docker's command lines do what
they say to the store and to the running tasks."""

from __future__ import annotations

import random

from cli.commands.language import parse
from cli.commands.run import Outcome, execute
from core.model.enums import NodeAvailability, UpdateState
from core.model.node import Node
from core.model.service import Service
from sim.cluster import ClusterWorld
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
    assert not busy.ok and busy.error.endswith("node worker-2 is not down and can't be removed")
