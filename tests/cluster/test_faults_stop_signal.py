"""``--stop-signal`` (issue 15, item 9): ``service create/update`` set
ContainerSpec.StopSignal, and the simulated engine sends it on a stop: an image that
exits on it stops at once (exit 0), one that ignores it is killed at the grace
period (exit 137)."""

from __future__ import annotations

import random

from cli.commands.language import parse
from cli.commands.run import execute
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from sim.executor import ImageBehaviour
from tests.cluster.support import running, swarm


def ok(world: ClusterWorld, line: str) -> object:
    def send(method: str, params: dict[str, object]) -> object:
        return world.call("manager-1", method, **params)

    outcomes = [execute(c, send, "manager-1") for c in parse(line, random.Random(7))]  # type: ignore[arg-type]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    return outcomes[-1].value


def stop_signal(world: ClusterWorld) -> str:
    store = world.leader_store()
    assert store is not None
    (service,) = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    container = service.spec.task_template.container_spec
    assert container is not None
    return container.stop_signal


def shut_down(world: ClusterWorld, task: Task) -> Task:
    assert world.run_until(
        lambda: any(
            t.id == task.id and t.status.state is TaskState.SHUTDOWN for t in world.tasks()
        ),
        30,
    )
    (done,) = [t for t in world.tasks() if t.id == task.id]
    return done


def test_the_stop_signal_decides_how_a_task_stops() -> None:
    # exits 1 s after SIGTERM or SIGINT (the default); ignores SIGQUIT
    world = swarm(3, managers=1, workers=1, app=ImageBehaviour(stop_seconds=1.0))
    sid = str(
        ok(
            world,
            "docker service create --name web --stop-signal SIGQUIT --stop-grace-period 5s app",
        )
    )
    assert stop_signal(world) == "SIGQUIT"
    assert world.run_until(lambda: len(running(world, sid)) == 1, 60)
    (first,) = running(world, sid)
    ok(world, "docker service update --stop-signal SIGINT web")  # a new task: the old one stops
    asked = world.env.now
    old = shut_down(world, first)
    assert stop_signal(world) == "SIGINT"
    assert old.status.container_status is not None
    assert old.status.container_status.exit_code == 137, "SIGQUIT ignored: killed at 5 s"
    assert world.env.now - asked >= 5.0
    assert world.run_until(lambda: len(running(world, sid)) == 1, 60)
    (second,) = running(world, sid)
    ok(world, "docker service update --env-add A=1 web")
    new = shut_down(world, second)
    assert new.status.container_status is not None
    assert new.status.container_status.exit_code == 0, "SIGINT handled: exits at once"
