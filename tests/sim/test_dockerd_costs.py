"""A host's dockerd: one operation at a time, each its wait then its share of the
cores; a task that needs a network sandbox pays for it before its create."""

from __future__ import annotations

import random
from typing import Any

import pytest
import simpy

from core.model.enums import PublishMode
from core.model.network import Network, NetworkAttachment
from core.model.service import ContainerSpec, Endpoint, PortConfig, TaskSpec
from core.model.task import Task
from core.tasks.executor import ExecutorCommand, Operation, OperationToken
from sim.cpu import CpuPool
from sim.dockerd import IDEAL, EngineModel, OpCost, SimDockerd
from sim.executor import ImageBehaviour, SimExecutor

START = OpCost(latency=0.01, cpu=0.1)


def test_a_free_operation_happens_at_once() -> None:
    env = simpy.Environment()
    seen: list[float] = []
    SimDockerd(env, IDEAL, None).do("start", lambda: seen.append(float(env.now)))
    assert seen == [0.0]  # called before any event: a run without costs is unchanged


def test_a_dockerd_does_one_operation_at_a_time() -> None:
    env = simpy.Environment()
    dockerd = SimDockerd(env, EngineModel(start=START), CpuPool(env, 2))
    seen: list[float] = []
    for _ in range(3):
        dockerd.do("start", lambda: seen.append(float(env.now)))
    env.run()
    assert seen == pytest.approx([0.11, 0.22, 0.33])  # 2 cores, but one at a time


def test_concurrency_lets_operations_overlap() -> None:
    env = simpy.Environment()
    dockerd = SimDockerd(env, EngineModel(start=START, concurrency=3), CpuPool(env, 2))
    seen: list[float] = []
    for _ in range(3):
        dockerd.do("start", lambda: seen.append(float(env.now)))
    env.run()
    # three at once on 2 cores: 0.01 wait, then 0.1 of work at 2/3 speed
    assert seen == pytest.approx([0.16] * 3)


def test_dockerds_on_one_machine_share_its_cores() -> None:
    env = simpy.Environment()
    machine = CpuPool(env, 2)
    hosts = [SimDockerd(env, EngineModel(start=START), machine) for _ in range(3)]
    seen: list[float] = []
    for dockerd in hosts:
        for _ in range(20):
            dockerd.do("start", lambda: seen.append(float(env.now)))
    env.run()
    # 60 starts of 0.1 s CPU on 2 cores: about 3 s of work, plus each host's waits
    assert len(seen) == 60
    assert max(seen) == pytest.approx(60 * 0.1 / 2 + 20 * 0.01, rel=0.05)
    assert machine.busy_seconds == pytest.approx(6.0)


def test_a_crash_drops_what_waited_and_frees_the_cores() -> None:
    env = simpy.Environment()
    machine = CpuPool(env, 1)
    victim = SimDockerd(env, EngineModel(start=OpCost(cpu=1.0)), machine)
    other = SimDockerd(env, EngineModel(start=OpCost(cpu=0.2)), machine)
    seen: list[str] = []
    victim.do("start", lambda: seen.append("victim 1"))
    victim.do("start", lambda: seen.append("victim 2"))
    other.do("start", lambda: seen.append(f"other at {env.now:.2f}"))

    def crash():  # type: ignore[no-untyped-def]
        yield env.timeout(0.1)
        victim.crash()

    env.process(crash())
    env.run()
    assert seen == ["other at 0.25"]  # half a core until 0.1, then all of it
    assert victim.queue.busy == 0 and not victim.queue.queue


def prepared_at(env: simpy.Environment, task: Task, **options: Any) -> float:
    """When a prepare of ``task`` is answered by an executor made with ``options``."""
    answered: list[float] = []
    executor = SimExecutor(
        env,
        random.Random(1),
        {"*": ImageBehaviour(pull_seconds=0.0)},
        lambda result: answered.append(float(env.now)),
        **options,
    )
    executor.run(ExecutorCommand(OperationToken(task.id, 1, 1), Operation.PREPARE, task))
    env.run()
    (when,) = answered
    return when


def _prepared_at(task: Task) -> float:
    """With dockerd's create costing 0.1 s of waiting and a sandbox 0.7 s."""
    env = simpy.Environment()
    model = EngineModel(create=OpCost(latency=0.1), sandbox=OpCost(latency=0.7))
    return prepared_at(env, task, dockerd=SimDockerd(env, model, CpuPool(env, 2)))


def test_a_task_on_an_overlay_or_with_host_ports_pays_for_its_sandbox_first() -> None:
    spec = TaskSpec(container_spec=ContainerSpec(image="web"))
    plain = Task(id="plain", spec=spec)
    attached = NetworkAttachment(network=Network(id="backend"), addresses=("10.0.1.3/24",))
    on_overlay = Task(id="overlay", spec=spec, networks_attachments=(attached,))
    host_port = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    with_port = Task(id="port", spec=spec, endpoint=Endpoint(ports=(host_port,)))
    ingress_port = PortConfig(target_port=80, published_port=8080)
    via_mesh = Task(id="mesh", spec=spec, endpoint=Endpoint(ports=(ingress_port,)))
    assert _prepared_at(plain) == pytest.approx(0.1)
    assert _prepared_at(on_overlay) == pytest.approx(0.8)
    assert _prepared_at(with_port) == pytest.approx(0.8)
    assert _prepared_at(via_mesh) == pytest.approx(0.1)  # ingress's attachment brings one
