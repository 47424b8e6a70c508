"""Service discovery: what a container's embedded DNS server answers for a name,
from the states of the networks the container is on (libnetwork's
``addEndpointNameResolution``), for the simulated resolver and the real one alike.

- ``<service>``: its virtual IP, or in endpoint mode dnsrr the address of every
  running task; a service with no running task is no name at all (libnetwork adds
  the record with the first backend and removes it with the last);
- ``tasks.<service>``: the address of every running task, whatever the mode;
- a task's container name (``web.1.<task id>``) and the service's aliases;
- anything else is not a swarm name: the caller forwards it to the host's servers.

Names match case-insensitively, with or without the root's trailing dot. A name on
several of the container's networks answers from each of them, in the order of the
container's networks, as Docker's resolver walks them.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.dataplane.state import NetworkState


def resolve(name: str, networks: Iterable[NetworkState]) -> tuple[str, ...] | None:
    """The A records for ``name`` on ``networks``; None when it is no swarm name
    (an empty tuple: a swarm service with no running task)."""
    wanted = name.rstrip(".").lower()
    found: list[str] | None = None
    for state in networks:
        addresses = _on_network(wanted, state)
        if addresses is not None:
            found = (found or []) + [a for a in addresses if a not in (found or [])]
    return None if found is None else tuple(found)


def _on_network(name: str, state: NetworkState) -> tuple[str, ...] | None:
    for binding in state.services:
        tasks = tuple(b.address for b in binding.backends)
        if name == f"tasks.{binding.name.lower()}":
            return tasks
        if name == binding.name.lower() or name in (a.lower() for a in binding.aliases):
            if not tasks:
                continue
            return tasks if binding.dnsrr else (binding.vip,)
        for backend in binding.backends:
            if backend.name and name == backend.name.lower():
                return (backend.address,)
    return None


def reverse(address: str, networks: Iterable[NetworkState]) -> str | None:
    """The name a PTR query for ``address`` answers, qualified by the network as
    libnetwork's ``ResolveIP`` does: ``web.1.<task id>.mynet`` for a task's
    address, ``web.mynet`` for a VIP; None for an address no swarm name holds."""
    for state in networks:
        for binding in state.services:
            if binding.vip == address and binding.backends:
                return f"{binding.name}.{state.name}"
            for backend in binding.backends:
                if backend.address == address and backend.name:
                    return f"{backend.name}.{state.name}"
    return None
