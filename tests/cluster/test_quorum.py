"""Issue 6's acceptance #5: losing quorum and getting it back.

With 2 of 3 managers gone a write is proposed yet cannot commit: the client gets
Docker's deadline error after 20 s (the entry may still commit once quorum is back),
and the workers' containers run on. With a manager back, writes work again. With
two managers lost for good, ``swarm init --force-new-cluster`` on the survivor keeps
the services and tasks, and promoting workers brings the managers back to 3."""

from __future__ import annotations

import pytest

from core.manager.requests import REQUEST_TIMEOUT_SECONDS
from core.model.service import Placement, Service
from core.model.task import Task
from core.tasks.states import TaskState
from sim.cluster import ClusterWorld
from tests.cluster.support import replicated, running, swarm

SEEDS = (1, 2, 3)
DEADLINE_ERROR = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
WORKERS_ONLY = Placement(constraints=("node.role==worker",))


def web(seed: int) -> tuple[ClusterWorld, str, str]:
    """A converged swarm of 3 managers and 3 workers running 6 tasks on the workers;
    the world, the service id and the leader's host."""
    world = swarm(seed, managers=3, workers=3)
    spec = replicated("web", 6, placement=WORKERS_ONLY)
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    assert reply.ok, reply.error
    assert world.run_until(lambda: len(running(world, reply.value)) == 6, 60)
    leader = world.leader()
    assert leader is not None
    return world, reply.value, leader.name


def worker_containers(world: ClusterWorld) -> list[str]:
    return sorted(
        task_id
        for host, ids in world.running_containers().items()
        if host.startswith("worker")
        for task_id in ids
    )


def replicas_of(world: ClusterWorld, service_id: str) -> int:
    store = world.leader_store()
    assert store is not None
    service = store.tables["services"][service_id]
    assert isinstance(service, Service) and service.spec.mode.replicated is not None
    replicas = service.spec.mode.replicated.replicas
    assert replicas is not None
    return replicas


@pytest.mark.parametrize("seed", SEEDS)
def test_a_write_without_quorum_times_out_and_tasks_keep_running(seed: int) -> None:
    world, service_id, leader = web(seed)
    containers = worker_containers(world)
    others = sorted(h for h in world.hosts if h.startswith("manager") and h != leader)
    for name in others:
        world.hosts[name].crash()
    raft = world.hosts[leader].node.manager.raft  # type: ignore[union-attr]
    last_before = raft.log.last_index()
    sent_at = world.env.now
    request_id = world.send_request(leader, "ServiceScale", service=service_id, replicas=8)
    world.run_for(0.5)
    assert raft.log.last_index() > last_before  # really proposed ...
    assert raft.log.committed < raft.log.last_index()  # ... and not committed
    assert world.run_until(lambda: request_id in world.replies, 30, step=0.05)
    reply = world.replies[request_id]
    assert not reply.ok and reply.code == "DeadlineExceeded"
    assert reply.error == DEADLINE_ERROR
    took = world.env.now - sent_at
    assert REQUEST_TIMEOUT_SECONDS <= took <= REQUEST_TIMEOUT_SECONDS + 0.2
    for _ in range(12):  # a minute without a leader: the containers run on
        world.run_for(5)
        assert world.leader() is None
        assert worker_containers(world) == containers
    world.hosts[others[0]].boot()
    assert world.run_until(lambda: world.leader() is not None, 60)
    assert replicas_of(world, service_id) in (6, 8)  # the timed-out write may commit
    reply = world.call(world.leader().name, "ServiceScale", service=service_id, replicas=4)  # type: ignore[union-attr]
    assert reply.ok, reply.error
    assert replicas_of(world, service_id) == 4
    assert world.run_until(lambda: len(running(world, service_id)) == 4, 60)
    assert world.run_until(lambda: len(worker_containers(world)) == 4, 30)


def wanted(world: ClusterWorld, service_id: str) -> list[Task]:
    return [
        t
        for t in world.tasks()
        if t.service_id == service_id and t.desired_state <= TaskState.RUNNING
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_force_new_cluster_keeps_services_and_tasks_and_promotes_back_to_three(seed: int) -> None:
    world, service_id, leader = web(seed)
    before = sorted((t.slot, t.id) for t in running(world, service_id))
    lost = sorted(h for h in world.hosts if h.startswith("manager") and h != leader)
    survivor = leader
    for name in lost:
        world.hosts[name].crash()  # for good
    world.run_for(30)
    assert world.leader() is None
    reply = world.call(survivor, "SwarmInit", force_new_cluster=True)
    assert reply.ok, reply.error
    assert world.run_until(lambda: world.leader() is not None, 30)
    assert world.leader().name == survivor  # type: ignore[union-attr]
    raft = world.hosts[survivor].node.manager.raft  # type: ignore[union-attr]
    assert len(raft.conf.voters) == 1
    # the same service, the same tasks, still running in their containers
    assert world.run_until(lambda: len(running(world, service_id)) == 6, 60)
    assert sorted((t.slot, t.id) for t in running(world, service_id)) == before
    assert sorted(worker_containers(world)) == sorted(task_id for _, task_id in before)
    for worker in ("worker-1", "worker-2"):
        promoted = world.call(survivor, "NodeUpdate", node=worker, role="manager")
        assert promoted.ok, promoted.error
        assert world.run_until(lambda: len(raft.conf.voters) >= 2, 60)
    assert world.run_until(lambda: len(raft.conf.voters) == 3, 60)
    # three managers again: losing one of them keeps the quorum, writes work
    world.run_for(10)
    world.hosts["worker-1"].crash()
    world.run_for(5)
    leader_now = world.leader()
    assert leader_now is not None
    reply = world.call(leader_now.name, "ServiceScale", service=service_id, replicas=3)
    assert reply.ok, reply.error
    assert world.run_until(lambda: len(wanted(world, service_id)) == 3, 60)
