"""The simulated data plane's costs (sim/dataplane.py), in real mode's shape: one job at
a time under the host's lock, a program only for the latest networks asked for, a
network new to the host costing more, and a task's sandbox joined in turn with the
programs before its container is made."""

from __future__ import annotations

import pytest
import simpy

from core.dataplane.state import Endpoint, NetworkState
from core.model.network import Network, NetworkAttachment
from core.model.service import ContainerSpec, TaskSpec
from core.model.task import Task
from sim.costqueue import OpCost
from sim.cpu import CpuPool
from sim.dataplane import FREE, PROGRAM_SECONDS, DataplaneModel, SimDataplane
from sim.trace import Trace
from tests.sim.test_dockerd_costs import prepared_at

MODEL = DataplaneModel(
    program=OpCost(latency=0.1), network=OpCost(latency=0.4), attach=OpCost(latency=0.05)
)


def state(name: str, endpoints: int = 0) -> NetworkState:
    return NetworkState(
        f"id-{name}",
        name,
        4096,
        "10.0.1.0/24",
        "10.0.1.1",
        endpoints=tuple(Endpoint(f"10.0.1.{10 + i}", "n2", "192.0.2.2") for i in range(endpoints)),
    )


def plane(model: DataplaneModel = MODEL) -> tuple[simpy.Environment, SimDataplane, list]:
    env = simpy.Environment()
    dataplane = SimDataplane(env, "h1", Trace(None), model, CpuPool(env, 1))
    installed: list[tuple[float, dict[str, NetworkState]]] = []
    install = dataplane._install

    def watched(node_id: str, states: dict[str, NetworkState]) -> None:
        installed.append((round(float(env.now), 6), dict(states)))
        install(node_id, states)

    dataplane._install = watched  # type: ignore[method-assign]
    return env, dataplane, installed


def test_a_new_network_costs_more_and_a_later_word_supersedes_one_waiting() -> None:
    env, dataplane, installed = plane()
    a = state("a")
    dataplane.program("n1", {a.network_id: a})  # new: 0.1 + 0.4
    dataplane.program("n1", {a.network_id: state("a", 1)})  # waits...
    dataplane.program("n1", {a.network_id: state("a", 2)})  # ...and is superseded
    env.run()
    assert [(when, s[a.network_id].endpoints.__len__()) for when, s in installed] == [
        (0.5, 0),
        (0.6, 2),  # one program for the latest word: the network is known by then
    ]
    assert dataplane.programmed[a.network_id] == state("a", 2)


def test_a_word_that_comes_during_a_program_runs_after_it() -> None:
    env, dataplane, installed = plane()
    a = state("a")
    dataplane.program("n1", {a.network_id: a})

    def later():  # type: ignore[no-untyped-def]
        yield env.timeout(0.2)  # the first program is under way
        dataplane.program("n1", {a.network_id: state("a", 3)})

    env.process(later())
    env.run()
    assert [when for when, _ in installed] == [0.5, 0.6]
    assert dataplane.programmed[a.network_id] == state("a", 3)


def test_an_attach_waits_for_the_program_under_way() -> None:
    env, dataplane, _ = plane()
    a = state("a")
    joined: list[float] = []
    dataplane.program("n1", {a.network_id: a})
    dataplane.attach(lambda: joined.append(round(float(env.now), 6)))
    env.run()
    assert joined == [0.55]  # after the program's 0.5 s, then its own 0.05


def test_a_crash_drops_what_waited_and_programs_nothing() -> None:
    env, dataplane, installed = plane()
    a = state("a")
    joined: list[float] = []
    dataplane.program("n1", {a.network_id: a})
    dataplane.attach(lambda: joined.append(float(env.now)))

    def crash():  # type: ignore[no-untyped-def]
        yield env.timeout(0.2)
        dataplane.crashed()

    env.process(crash())
    env.run()
    assert joined == [] and dataplane.programmed == {}
    assert [s for _, s in installed] == [{}]  # the crash's own emptying, nothing after


def test_a_free_model_programs_after_the_fixed_delay_and_attaches_at_once() -> None:
    env, dataplane, installed = plane(FREE)
    a = state("a")
    joined: list[float] = []
    dataplane.program("n1", {a.network_id: a})
    dataplane.attach(lambda: joined.append(float(env.now)))
    env.run()
    assert joined == [0.0]
    assert [when for when, _ in installed] == [PROGRAM_SECONDS]


def _prepared_at(task: Task, model: DataplaneModel) -> float:
    env = simpy.Environment()
    dataplane = SimDataplane(env, "h1", Trace(None), model, None)
    a = state("a")
    dataplane.program("n1", {a.network_id: a})  # the network's word came first
    return prepared_at(env, task, attach=dataplane.attach)


def test_a_task_on_a_network_is_made_once_its_sandbox_is_joined() -> None:
    spec = TaskSpec(container_spec=ContainerSpec(image="web"))
    attached = NetworkAttachment(network=Network(id="id-a"), addresses=("10.0.1.3/24",))
    on_overlay = Task(id="overlay", spec=spec, networks_attachments=(attached,))
    assert _prepared_at(on_overlay, MODEL) == pytest.approx(0.55)
    assert _prepared_at(Task(id="plain", spec=spec), MODEL) == 0.0
    assert _prepared_at(on_overlay, FREE) == 0.0
