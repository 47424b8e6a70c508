"""Simulated clients of a swarm's services: a connection to a port of a host (the
routing mesh, or a host-mode port), or from a task's container to a name (the
embedded DNS, then a VIP's load balancer or a task's address), answered by the
task whose container takes it, or failing as a real client would.

Everything is decided by what the hosts have *programmed* (sim/dataplane.py), not
by the store: a host that has not yet heard of a new task does not send it
traffic, and one cut off from the managers keeps balancing over what it last knew.
A connection crosses hosts only where the simulated network carries packets both
ways, reaches only a container that runs, and gets its reply only if the answering
host has the asker's address programmed (its FDB entry), as over VXLAN. Requests
take no simulated time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.dataplane.names import resolve
from core.dataplane.state import NetworkState
from core.model.task import Task

if TYPE_CHECKING:
    from sim.cluster import ClusterHost, ClusterWorld

REFUSED = "connection refused"
TIMED_OUT = "connection timed out"
UNKNOWN_NAME = "bad address"  # busybox's words for a name that does not resolve
CLIENT_DOWN = "the client's container is not running"


@dataclass(frozen=True, slots=True)
class Answer:
    task_id: str = ""  # whose container answered ("" when none did)
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.task_id)


class SimTraffic:
    def __init__(self, world: ClusterWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng  # which of several DNS answers a client takes

    # -- to a host's port ------------------------------------------------------------------

    def to_port(self, host_name: str, port: int, protocol: str = "tcp") -> Answer:
        """Connect to ``port`` of a host: a container publishing it in host mode
        there, else the routing mesh."""
        host = self.world.hosts.get(host_name)
        if host is None or not host.executor.alive:
            return Answer(error=TIMED_OUT)
        for container in host.executor.running():
            for bound in container.ports:
                if bound.published_port == port and str(bound.protocol or "tcp") == protocol:
                    return Answer(container.task_id)
        found = host.dataplane.published(protocol, port)
        if found is None:
            return Answer(error=REFUSED)
        network_id, service = found
        destination = host.dataplane.pick(network_id, service)
        state = host.dataplane.programmed[network_id]
        own = state.load_balancer(host.dataplane.node_id)
        if destination is None or own is None:
            return Answer(error=REFUSED)
        return self._deliver(host, state, destination.address, own.address)

    # -- from a task's container -----------------------------------------------------------

    def from_task(self, client: Task, name: str) -> Answer:
        """Connect from ``client``'s container to ``name``."""
        host = self._running_host(client)
        if host is None:
            return Answer(error=CLIENT_DOWN)
        states = self._client_networks(host, client)
        addresses = resolve(name, states)
        if not addresses:
            return Answer(error=UNKNOWN_NAME)
        address = addresses[0] if len(addresses) == 1 else self.rng.choice(addresses)
        for state in states:
            service = host.dataplane.vip(state.network_id, address)
            if service is not None:
                own = state.load_balancer(host.dataplane.node_id)
                destination = host.dataplane.pick(state.network_id, service)
                if destination is None or own is None:
                    return Answer(error=REFUSED)
                return self._deliver(host, state, destination.address, own.address)
        for state in states:
            mine = _address_of(client, state.network_id)
            if mine and any(e.address == address for e in state.endpoints):
                return self._deliver(host, state, address, mine)
        return Answer(error=TIMED_OUT)

    def resolve_from(self, client: Task, name: str) -> tuple[str, ...] | None:
        """What ``client``'s resolver answers for ``name`` (None: not a swarm name,
        or the client is not running)."""
        host = self._running_host(client)
        if host is None:
            return None
        return resolve(name, self._client_networks(host, client))

    # -- the way there and back ----------------------------------------------------------------

    def _deliver(
        self, origin: ClusterHost, state: NetworkState, address: str, source: str
    ) -> Answer:
        """A connection from ``source`` on ``origin`` to ``address`` on ``state``'s
        network, as the origin's programming routes it."""
        endpoint = next((e for e in state.endpoints if e.address == address), None)
        if endpoint is None or not endpoint.task_id:
            return Answer(error=TIMED_OUT)
        target = self._host_of(endpoint.node_id)
        if target is None or not target.executor.alive:
            return Answer(error=TIMED_OUT)
        network = self.world.network
        if target is not origin:
            there = network.reachable(origin.name, target.name)
            back = network.reachable(target.name, origin.name)
            programmed = target.dataplane.programmed.get(state.network_id)
            knows_source = programmed is not None and any(
                e.address == source for e in programmed.endpoints
            )
            if not (there and back and knows_source):
                return Answer(error=TIMED_OUT)
        container = target.executor.containers.get(endpoint.task_id)
        if container is None or not container.running:
            return Answer(error=TIMED_OUT)
        return Answer(endpoint.task_id)

    def _running_host(self, task: Task) -> ClusterHost | None:
        host = self._host_of(task.node_id)
        if host is None or not host.executor.alive:
            return None
        container = host.executor.containers.get(task.id)
        return host if container is not None and container.running else None

    def _client_networks(self, host: ClusterHost, client: Task) -> list[NetworkState]:
        programmed = host.dataplane.programmed
        return [
            programmed[a.network.id]
            for a in client.networks_attachments
            if a.network.id in programmed and not programmed[a.network.id].ingress
        ]

    def _host_of(self, node_id: str) -> ClusterHost | None:
        for name in sorted(self.world.hosts):
            host = self.world.hosts[name]
            if host.identity is not None and host.identity.node_id == node_id:
                return host
        return None


def _address_of(task: Task, network_id: str) -> str:
    for attachment in task.networks_attachments:
        if attachment.network.id == network_id and attachment.addresses:
            return attachment.addresses[0].split("/")[0]
    return ""
