"""Issue 6's acceptance, in simulation, over several seeds: the store, the trace and
the simulated executors (what really runs) must agree with what Swarm does."""

from __future__ import annotations

import itertools

import pytest

from core.messages import ClusterMessage, HeartbeatAck
from core.model.enums import NodeState
from core.tasks.states import TaskState
from tests.cluster.support import host_of, node_id, node_state, replicated, running, swarm

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_replicated_service_converges_in_slots_one_to_ten(seed: int) -> None:
    world = swarm(seed)
    reply = world.call("manager-2", "ServiceCreate", spec=replicated("web", 10))
    assert reply.ok, reply.error
    service_id = reply.value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    assert sorted(t.slot for t in running(world, service_id)) == list(range(1, 11))
    on_hosts = sorted(t for ids in world.running_containers().values() for t in ids)
    assert on_hosts == sorted(t.id for t in running(world, service_id))


@pytest.mark.parametrize("seed", SEEDS)
def test_drain_moves_tasks_and_active_again_moves_nothing_back(seed: int) -> None:
    world = swarm(seed)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 10)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    busiest = max(sorted(world.hosts), key=lambda h: len(world.running_containers()[h]))
    drained_id = node_id(world, busiest)
    assert world.call("manager-1", "NodeUpdate", node=busiest, availability="drain").ok

    def moved() -> bool:
        tasks = running(world, service_id)
        return len(tasks) == 10 and all(t.node_id != drained_id for t in tasks)

    assert world.run_until(moved, 60)
    assert world.running_containers()[busiest] == []
    old = [t for t in world.tasks() if t.node_id == drained_id]
    assert old and all(t.desired_state is TaskState.SHUTDOWN for t in old)
    assert all(t.status.state is TaskState.SHUTDOWN for t in old)
    before = sorted(t.id for t in running(world, service_id))
    assert world.call("manager-1", "NodeUpdate", node=busiest, availability="active").ok
    world.run_for(30)
    assert sorted(t.id for t in running(world, service_id)) == before
    assert world.running_containers()[busiest] == []


@pytest.mark.parametrize("seed", SEEDS)
def test_crashed_worker_is_down_in_bound_and_its_tasks_replaced(seed: int) -> None:
    world = swarm(seed)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 10)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    victim = next(
        h for h in sorted(world.hosts) if h.startswith("worker") and world.running_containers()[h]
    )
    victim_id = node_id(world, victim)
    # crash right after a heartbeat is acknowledged: the leader then waits 3 periods
    # from it (a crash later in the period would be marked down sooner after it)
    agent = world.hosts[victim].node.agent
    acks: list[float] = []
    receive = agent.receive

    def spy(source: str, message: ClusterMessage, mono: float, wall: float) -> None:
        if isinstance(message, HeartbeatAck):
            acks.append(world.env.now)
        receive(source, message, mono, wall)

    agent.receive = spy  # type: ignore[method-assign]
    assert world.run_until(lambda: bool(acks), 10, step=0.01)
    crashed_at = world.env.now
    world.hosts[victim].crash()
    assert world.run_until(lambda: node_state(world, victim) is NodeState.DOWN, 30, step=0.05)
    down_after = world.env.now - crashed_at
    assert 13.5 - 0.1 <= down_after <= 16.5 + 0.6  # heartbeat + status batch + commit

    def replaced() -> bool:
        tasks = running(world, service_id)
        return len(tasks) == 10 and all(t.node_id != victim_id for t in tasks)

    assert world.run_until(replaced, 60)
    world.hosts[victim].boot()
    assert world.run_until(lambda: node_state(world, victim) is NodeState.READY, 60)
    world.run_for(20)
    by_slot: dict[int, int] = {}
    task_of = {t.id: t for t in world.tasks()}
    for ids in world.running_containers().values():
        for task_id in ids:
            slot = task_of[task_id].slot
            by_slot[slot] = by_slot.get(slot, 0) + 1
    assert sorted(by_slot) == list(range(1, 11))
    assert all(count == 1 for count in by_slot.values())
    assert world.running_containers()[victim] == []
    assert all(host_of(world, t) != victim for t in running(world, service_id))


@pytest.mark.parametrize("seed", SEEDS)
def test_unschedulable_service_stays_pending_and_starts_on_a_new_node(seed: int) -> None:
    from core.model.service import Placement

    world = swarm(seed, managers=1, workers=2)
    spec = replicated("web", 2, placement=Placement(constraints=("node.labels.zone==east",)))
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value
    world.run_for(10)
    tasks = [t for t in world.tasks() if t.service_id == service_id]
    assert len(tasks) == 2
    assert all(t.status.state is TaskState.PENDING for t in tasks)
    assert all(
        t.status.err == "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        for t in tasks
    )
    assert world.call("manager-1", "NodeUpdate", node="worker-1", label_add={"zone": "east"}).ok
    assert world.run_until(lambda: len(running(world, service_id)) == 2, 30)
    assert all(host_of(world, t) == "worker-1" for t in running(world, service_id))


@pytest.mark.parametrize("seed", SEEDS)
def test_partitioned_worker_stops_its_old_containers_when_it_returns(seed: int) -> None:
    """Cut off (not crashed), the worker's containers run on; once it is back, the
    assignments it gets stop them, and every slot runs exactly one container."""
    from sim.faults.topology import isolate

    world = swarm(seed)
    service_id = world.call("manager-1", "ServiceCreate", spec=replicated("web", 10)).value
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    victim = next(
        h for h in sorted(world.hosts) if h.startswith("worker") and world.running_containers()[h]
    )
    kept = list(world.running_containers()[victim])
    world.network.set_graph(isolate(sorted(world.hosts), victim))
    assert world.run_until(lambda: node_state(world, victim) is NodeState.DOWN, 30)
    assert world.run_until(lambda: len(running(world, service_id)) == 10, 60)
    assert world.running_containers()[victim] == kept  # still running behind the cut
    world.network.heal()
    assert world.run_until(lambda: world.running_containers()[victim] == [], 60)
    task_of = {t.id: t for t in world.tasks()}
    slots = sorted(task_of[i].slot for ids in world.running_containers().values() for i in ids)
    assert slots == list(range(1, 11))


@pytest.mark.parametrize("seed", SEEDS)
def test_global_service_runs_one_task_per_eligible_node(seed: int) -> None:
    from core.model.service import ContainerSpec, GlobalService, ServiceMode, ServiceSpec, TaskSpec

    world = swarm(seed, managers=1, workers=3)
    spec = ServiceSpec(
        name="agent",
        task_template=TaskSpec(container_spec=ContainerSpec(image="busybox")),
        mode=ServiceMode(global_=GlobalService()),
    )
    service_id = world.call("manager-1", "ServiceCreate", spec=spec).value

    def per_host() -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in running(world, service_id):
            counts[host_of(world, task)] = counts.get(host_of(world, task), 0) + 1
        return counts

    assert world.run_until(lambda: per_host() == dict.fromkeys(sorted(world.hosts), 1), 60)
    assert world.call("manager-1", "NodeUpdate", node="worker-2", availability="drain").ok
    assert world.run_until(lambda: "worker-2" not in per_host(), 30)
    assert world.run_until(lambda: world.running_containers()["worker-2"] == [], 30)
    assert per_host() == {"manager-1": 1, "worker-1": 1, "worker-3": 1}


@pytest.mark.parametrize("seed", SEEDS)
def test_crash_loop_restarts_after_the_default_delay(seed: int) -> None:
    from sim.executor import ImageBehaviour

    world = swarm(seed, managers=1, workers=2, crashy=ImageBehaviour(exit_after=1.0, exit_code=1))
    service_id = world.call(
        "manager-1", "ServiceCreate", spec=replicated("loop", 1, "crashy")
    ).value
    world.run_for(40)
    tasks = sorted(
        (t for t in world.tasks() if t.service_id == service_id), key=lambda t: t.created_at.unix_ns
    )
    assert len(tasks) >= 4
    failed = [t for t in tasks if t.status.state is TaskState.FAILED]
    assert failed and all(t.status.err == "task: non-zero exit (1)" for t in failed)
    # each task ran 1 s before it failed; its replacement waited the 5 s restart
    # delay before it started (clocks of different hosts differ by under 0.5 s)
    fails = [t.status.timestamp.unix_ns / 1e9 for t in failed]
    gaps = [b - a for a, b in itertools.pairwise(fails)]
    assert gaps and all(5.5 <= gap <= 8.0 for gap in gaps), gaps
