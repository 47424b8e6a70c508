"""Nemeses for the whole-swarm world: the network ones of the Raft world, host
crashes chosen by role (a worker, the leader, a minority of managers, all within
the managers' quorum budget), process restarts and pauses (the leader half the
time), clock skew (a wall-clock step and a drift of both clocks), and an operator
draining a worker or rolling the replicated service to a new image.

A crashed host is booted again when its fault stops, with its disk (as a machine
that comes back); the containers it ran died with it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import networkx as nx
import simpy

from core.model import replace
from core.model.duration import SECOND
from core.model.enums import FailureAction, NodeAvailability, UpdateOrder
from core.model.node import Node
from core.model.service import ContainerSpec, Service, UpdateConfig
from sim.faults import topology
from sim.faults.nemesis import Burst, ClockSkew, Crash, Effect, Nemesis, Partition, Pause

if TYPE_CHECKING:
    from sim.cluster import ClusterHost, ClusterWorld


def _is_manager(host: ClusterHost) -> bool:
    return host.identity is not None and host.identity.manager


def _quorum_budget(world: ClusterWorld) -> int:
    """How many more managers may go down with a majority of them still up."""
    managers = [h for h in world.hosts.values() if _is_manager(h)]
    down = sum(1 for h in managers if h.node is None)
    return (len(managers) - 1) // 2 - down


def _pick(rng: random.Random, hosts: list[ClusterHost]) -> ClusterHost | None:
    return hosts[rng.randrange(len(hosts))] if hosts else None


def _workers(world: ClusterWorld) -> list[ClusterHost]:
    return [h for h in world.up_hosts() if h.identity is not None and not _is_manager(h)]


# -- the network -----------------------------------------------------------------------------


def _halves(world: ClusterWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    graph, small = topology.random_halves(world.names, rng)
    return graph, {"minority": small}


def _isolate_leader(world: ClusterWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    leader = world.leader()
    names = world.names
    name = leader.name if leader is not None else names[rng.randrange(len(names))]
    return topology.isolate(names, name), {"isolated": name}


def _isolate_worker(world: ClusterWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    worker = _pick(rng, _workers(world))
    names = world.names
    name = worker.name if worker is not None else names[rng.randrange(len(names))]
    return topology.isolate(names, name), {"isolated": name}


def _bridge(world: ClusterWorld, rng: random.Random) -> tuple[nx.DiGraph, Effect]:
    graph, middle = topology.bridge(world.names, rng)
    return graph, {"bridge": middle}


# -- hosts -----------------------------------------------------------------------------------


def _a_worker(world: ClusterWorld, rng: random.Random) -> list[ClusterHost]:
    worker = _pick(rng, _workers(world))
    return [worker] if worker is not None else []


def _the_leader(world: ClusterWorld, rng: random.Random) -> list[ClusterHost]:
    leader = world.leader()
    return [leader] if leader is not None and _quorum_budget(world) >= 1 else []


def _manager_minority(world: ClusterWorld, rng: random.Random) -> list[ClusterHost]:
    budget = _quorum_budget(world)
    up = [h for h in world.up_hosts() if _is_manager(h)]
    if budget < 1 or not up:
        return []
    chosen = rng.sample(up, rng.randint(1, min(budget, len(up))))
    return sorted(chosen, key=lambda h: h.name)


def _leader_or_any(world: ClusterWorld, rng: random.Random) -> list[ClusterHost]:
    """The leader half the time, else any running host (one only: a pause shares the
    process family with the crashes, so it never adds to a crash's toll)."""
    leader = world.leader() if rng.random() < 0.5 else None
    host = leader or _pick(rng, world.up_hosts())
    return [host] if host is not None else []


class Restart:
    """Kill one host's process and start it straight away (its disk kept)."""

    family = "process"
    name = "restart"

    def start(self, world: ClusterWorld, rng: random.Random) -> Effect | None:
        candidates = [h for h in world.up_hosts() if not _is_manager(h) or _quorum_budget(world)]
        host = _pick(rng, candidates)
        if host is None:
            return None
        world.crash(host)  # the page cache survives a process restart
        host.boot()
        return {"victim": host.name}

    def stop(self, world: ClusterWorld) -> None:
        """Nothing to undo: the host restarted by itself."""


# -- the operator ----------------------------------------------------------------------------


#: How often the drain nemesis asks again for its worker to be active once it stops.
REACTIVATE_RETRY_SECONDS = 5.0


class Drain:
    """``docker node update --availability drain`` on a worker, ``active`` on stop
    (both sent to the leader; without one the fault does not start)."""

    family = "operator"
    name = "drain"

    def __init__(self) -> None:
        self.victim: str | None = None

    def start(self, world: ClusterWorld, rng: random.Random) -> Effect | None:
        leader, worker = world.leader(), _pick(rng, _workers(world))
        if leader is None or worker is None:
            return None
        self.victim = worker.name
        world.send_request(leader.name, "NodeUpdate", node=worker.name, availability="drain")
        return {"victim": worker.name}

    def stop(self, world: ClusterWorld) -> None:
        if self.victim is None:
            return
        world.env.process(self._reactivate(world, self.victim))
        self.victim = None

    @staticmethod
    def _reactivate(world: ClusterWorld, victim: str) -> Generator[simpy.Event]:
        """As an operator would: ask again until the swarm has the node active (one
        request can be lost to an election, a paused leader or a follower that knows
        no leader, and the worker would then stay drained for good)."""
        while not _is_active(world, victim):
            leader = world.leader()
            target = leader.name if leader is not None else world.names[0]
            world.send_request(target, "NodeUpdate", node=victim, availability="active")
            yield world.env.timeout(REACTIVATE_RETRY_SECONDS)


def _is_active(world: ClusterWorld, hostname: str) -> bool:
    store = world.leader_store()
    if store is None:
        return False
    return any(
        isinstance(n, Node)
        and n.description.hostname == hostname
        and n.spec.availability is NodeAvailability.ACTIVE
        for n in store.tables["nodes"].values()
    )


class Update:
    """``docker service update --image`` of the replicated service ``web`` to an image
    it has not run (every task is dirty), in a drawn order, parallelism and delay,
    failure action continue (a task lost to another fault must not pause it: the
    liveness phase wants it completed); sent to the leader, and left to carry on
    when the fault stops."""

    family = "operator"
    name = "update"

    def start(self, world: ClusterWorld, rng: random.Random) -> Effect | None:
        leader, store = world.leader(), world.leader_store()
        if leader is None or store is None:
            return None
        services = [s for s in store.tables["services"].values() if isinstance(s, Service)]
        service = next((s for s in services if s.spec.name == "web"), None)
        if service is None:
            return None
        image = f"nginx:{rng.randrange(1_000_000)}"
        order = rng.choice([UpdateOrder.STOP_FIRST, UpdateOrder.START_FIRST])
        config = UpdateConfig(
            parallelism=rng.randint(0, 3),
            delay_ns=rng.choice([0, SECOND, 3 * SECOND]),
            order=order,
            failure_action=FailureAction.CONTINUE,
        )
        template = service.spec.task_template
        container = replace(template.container_spec or ContainerSpec(), image=image)
        spec = replace(
            service.spec,
            task_template=replace(template, container_spec=container),
            update_config=config,
        )
        world.send_request(leader.name, "ServiceUpdate", service="web", spec=spec)
        return {"image": image, "order": order.value, "parallelism": config.parallelism}

    def stop(self, world: ClusterWorld) -> None:
        """Nothing to undo: the update carries on."""


def _factories() -> dict[str, Callable[[], Nemesis[ClusterWorld]]]:
    return {
        "partition-random-halves": lambda: Partition("partition-random-halves", _halves),
        "isolate-leader": lambda: Partition("isolate-leader", _isolate_leader),
        "isolate-worker": lambda: Partition("isolate-worker", _isolate_worker),
        "bridge": lambda: Partition("bridge", _bridge),
        "loss-burst": lambda: Burst("loss-burst", "burst_loss"),
        "duplicate-burst": lambda: Burst("duplicate-burst", "burst_duplicate"),
        "crash-worker": lambda: Crash("crash-worker", _a_worker, power_loss=True),
        "crash-leader": lambda: Crash("crash-leader", _the_leader, power_loss=True),
        "crash-managers": lambda: Crash("crash-managers", _manager_minority, power_loss=True),
        "restart": Restart,
        "pause": lambda: Pause("pause", _leader_or_any),
        "clock-skew": ClockSkew,
        "drain": Drain,
        "update": Update,
    }


CLUSTER_NEMESES: dict[str, Callable[[], Nemesis[ClusterWorld]]] = _factories()
