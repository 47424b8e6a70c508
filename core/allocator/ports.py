"""Published ports of the routing mesh: who holds which ingress port.

Swarm publishes ``ingress``-mode ports on every node, so an ingress port belongs
to one service cluster-wide. A port given explicitly may be any of 1-65535 and is
refused when another service holds it; a port left at 0 gets the lowest free one
of the dynamic range 30000-32767 (SwarmKit's port allocator). TCP, UDP and SCTP
are separate spaces. Host-mode ports are not allocated here: they bind on the
task's node, and the scheduler keeps one task per node from taking one twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ShoalError
from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig

PORT_MIN, PORT_MAX = 1, 65535
DYNAMIC_PORT_MIN, DYNAMIC_PORT_MAX = 30000, 32767


class PortConflict(ShoalError):
    """An ingress port another service already publishes (Docker's words)."""

    def __init__(self, port: int, holder_name: str, holder_id: str) -> None:
        super().__init__(
            f"port '{port}' is already in use by service '{holder_name}' ({holder_id}) "
            "as an ingress port"
        )


class PortsExhausted(ShoalError):
    def __init__(self, protocol: str) -> None:
        super().__init__(
            f"no free {protocol} port left in the dynamic range "
            f"{DYNAMIC_PORT_MIN}-{DYNAMIC_PORT_MAX}"
        )


@dataclass(frozen=True, slots=True)
class Holder:
    service_id: str
    service_name: str


class PortAllocator:
    """The ingress ports in use, per protocol. Invariant: each (protocol, port) has
    at most one holder, and a service's ports are released as a whole."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], Holder] = {}
        self._by_service: dict[str, list[tuple[str, int]]] = {}

    def allocate(
        self, service_id: str, service_name: str, ports: tuple[PortConfig, ...]
    ) -> tuple[PortConfig, ...]:
        """The service's ports with every ingress port resolved; the service's old
        ports are given up first (an update may keep or move them). On a conflict
        nothing changes: the old ports stay held."""
        previous = self.release(service_id)
        holder = Holder(service_id, service_name)
        taken: list[tuple[str, int]] = []
        try:
            resolved = tuple(self._resolve(holder, port, taken) for port in ports)
        except ShoalError:
            for key in taken:
                del self._held[key]
            for key in previous:
                self._held[key] = holder
            self._by_service[service_id] = previous
            raise
        self._by_service[service_id] = taken
        return resolved

    def release(self, service_id: str) -> list[tuple[str, int]]:
        """Give up every port of the service; returns what it held."""
        keys = self._by_service.pop(service_id, [])
        for key in keys:
            del self._held[key]
        return keys

    def holder(self, protocol: str, port: int) -> Holder | None:
        return self._held.get((protocol, port))

    def _resolve(
        self, holder: Holder, port: PortConfig, taken: list[tuple[str, int]]
    ) -> PortConfig:
        if port.publish_mode is PublishMode.HOST:
            return port
        protocol = str(port.protocol or PortProtocol.TCP)
        published = port.published_port or self._lowest_free(protocol)
        key = (protocol, published)
        other = self._held.get(key)
        if other is not None:
            raise PortConflict(published, other.service_name, other.service_id)
        self._held[key] = holder
        taken.append(key)
        return PortConfig(
            name=port.name,
            protocol=port.protocol or PortProtocol.TCP,
            target_port=port.target_port,
            published_port=published,
            publish_mode=port.publish_mode or PublishMode.INGRESS,
        )

    def _lowest_free(self, protocol: str) -> int:
        for candidate in range(DYNAMIC_PORT_MIN, DYNAMIC_PORT_MAX + 1):
            if (protocol, candidate) not in self._held:
                return candidate
        raise PortsExhausted(protocol)
