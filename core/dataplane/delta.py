"""A network's state as the dispatcher sends it: whole once (when a node starts to
need the network, or opens a new session), then only what changed, so that one
task starting on a 2,000-task network costs its users one endpoint each, not 2,000.

Docker's NetworkDB gossips the same way: per-entry events, with a full sync only
when a node joins the network. Each state has a version, counted per network by
the leader; a delta names the version it applies to (``base``, 0 for a whole
state), and a node that holds another version has missed something and starts a
new session, which sends every state whole again.

Endpoints are keyed by their task (a node's load balancer by its node), bindings
by their service. A changed binding carries its backends as keys; the node takes
the endpoints themselves from the network's endpoints, so an endpoint is sent once
however many services it backs.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, replace

from core.dataplane.state import Endpoint, NetworkState, ServiceBinding


def endpoint_key(endpoint: Endpoint) -> str:
    """An endpoint's identity within its network: its task, or for a node's
    load-balancer endpoint its node."""
    return endpoint.task_id or f"node:{endpoint.node_id}"


@dataclass(frozen=True, slots=True)
class BindingChange:
    """A binding that is new or changed: the binding without its backends, and the
    keys of the backends it gained and lost."""

    binding: ServiceBinding  # backends=()
    backends_added: tuple[str, ...] = ()
    backends_removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkDelta:
    """What changed of one network's state between two versions."""

    network_id: str
    base: int  # the version this applies to; 0: it holds the whole state
    version: int  # the version it makes
    header: NetworkState  # the network's own fields, with no endpoints or services
    endpoints: tuple[Endpoint, ...] = ()  # new or changed
    endpoints_removed: tuple[str, ...] = ()  # keys
    services: tuple[BindingChange, ...] = ()  # new or changed
    services_removed: tuple[str, ...] = ()  # service ids


def diff(old: NetworkState | None, new: NetworkState, base: int, version: int) -> NetworkDelta:
    """The delta that turns ``old`` (at version ``base``; None and 0 for nothing)
    into ``new``."""
    before = {endpoint_key(e): e for e in old.endpoints} if old is not None else {}
    after = {endpoint_key(e): e for e in new.endpoints}
    endpoints = tuple(e for key, e in after.items() if before.get(key) != e)
    endpoints_removed = tuple(sorted(key for key in before if key not in after))
    was = {b.service_id: b for b in old.services} if old is not None else {}
    now = {b.service_id: b for b in new.services}
    services = tuple(
        _binding_change(was.get(service_id), binding)
        for service_id, binding in now.items()
        if was.get(service_id) != binding
    )
    services_removed = tuple(sorted(service_id for service_id in was if service_id not in now))
    return NetworkDelta(
        network_id=new.network_id,
        base=base if old is not None else 0,
        version=version,
        header=replace(new, endpoints=(), services=()),
        endpoints=endpoints,
        endpoints_removed=endpoints_removed,
        services=services,
        services_removed=services_removed,
    )


def _binding_change(old: ServiceBinding | None, new: ServiceBinding) -> BindingChange:
    had = {endpoint_key(e) for e in old.backends} if old is not None else set()
    has = {endpoint_key(e) for e in new.backends}
    return BindingChange(
        binding=replace(new, backends=()),
        backends_added=tuple(sorted(has - had)),
        backends_removed=tuple(sorted(had - has)),
    )


class StateFollower:
    """One network's state on a node, kept from the deltas it is sent. Applying a
    delta costs what it changed (and a copy of the sorted tuples, at C speed), not
    a rebuild of every endpoint: each of a network's users applies every delta."""

    def __init__(self) -> None:
        self.state: NetworkState | None = None
        self.version = 0
        self._endpoints: dict[str, Endpoint] = {}  # by key

    def follow(self, delta: NetworkDelta) -> bool:
        """Apply ``delta``; False (nothing changed) if it is for another version."""
        if delta.base == 0:
            self.state, self._endpoints = None, {}
        elif self.state is None or delta.base != self.version:
            return False
        base = self.state
        by_key = self._endpoints
        ordered = list(base.endpoints) if base is not None else []
        changed = [endpoint_key(e) for e in delta.endpoints]
        for key in (*delta.endpoints_removed, *changed):
            old = by_key.pop(key, None)
            if old is not None:
                del ordered[bisect_left(ordered, address_order(old), key=address_order)]
        for endpoint in delta.endpoints:
            by_key[endpoint_key(endpoint)] = endpoint
            insort(ordered, endpoint, key=address_order)
        bindings = {b.service_id: b for b in base.services} if base is not None else {}
        for service_id in delta.services_removed:
            bindings.pop(service_id, None)
        for change in delta.services:
            old_binding = bindings.get(change.binding.service_id)
            backends = list(old_binding.backends) if old_binding is not None else []
            for key in change.backends_removed:
                del backends[bisect_left(backends, key, key=_task_order)]
            for key in changed:  # an endpoint that changed and stays a backend
                at = bisect_left(backends, key, key=_task_order)
                if at < len(backends) and backends[at].task_id == key:
                    backends[at] = by_key[key]
            for key in change.backends_added:
                insort(backends, by_key[key], key=_task_order)
            bindings[change.binding.service_id] = replace(change.binding, backends=tuple(backends))
        self.state = replace(
            delta.header,
            endpoints=tuple(ordered),
            services=tuple(sorted(bindings.values(), key=lambda b: (b.name, b.service_id))),
        )
        self.version = delta.version
        return True


def address_order(endpoint: Endpoint) -> tuple[str, str, str]:
    """The order of a state's endpoints (the leader's and every node's): by address,
    then task, then node (two load balancers never share an address; if they did,
    the node would still tell them apart)."""
    return endpoint.address, endpoint.task_id, endpoint.node_id


def _task_order(endpoint: Endpoint) -> str:
    """The order of a binding's backends."""
    return endpoint.task_id
