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
    at most one holder, and a service's ports are released as a whole.

    A port left at 0 is *sticky*, as in SwarmKit: a service that already holds a
    port for the same name, protocol and target keeps it through every update, and
    a new leader takes back what the store says each service holds
    (:meth:`restore`) before it hands out anything."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], Holder] = {}
        self._by_service: dict[str, tuple[PortConfig, ...]] = {}  # resolved, ingress only

    def allocate(
        self, service_id: str, service_name: str, ports: tuple[PortConfig, ...]
    ) -> tuple[PortConfig, ...]:
        """The service's ports with every ingress port resolved; the service's old
        ports are given up first (an update may keep or move them). On a conflict
        nothing changes: the old ports stay held."""
        previous = self.release(service_id)
        holder = Holder(service_id, service_name)
        explicit = {_key(p) for p in ports if p.published_port and _ingress(p)}
        sticky = [p for p in previous if _key(p) not in explicit]
        try:
            resolved = tuple(self._resolve(holder, port, sticky) for port in ports)
        except ShoalError:
            self.release(service_id)
            self._hold(holder, previous)
            raise
        return resolved

    def restore(self, service_id: str, service_name: str, ports: tuple[PortConfig, ...]) -> None:
        """Hold the ingress ports the service was given (its stored endpoint). A
        port another service holds already is left out: :meth:`allocate` judges
        that service when the leader next looks at it."""
        free = [p for p in ports if _ingress(p) and p.published_port and _key(p) not in self._held]
        self._hold(Holder(service_id, service_name), tuple(free))

    def release(self, service_id: str) -> tuple[PortConfig, ...]:
        """Give up every port of the service; returns what it held."""
        held = self._by_service.pop(service_id, ())
        for port in held:
            del self._held[_key(port)]
        return held

    def in_use(self) -> bool:
        return bool(self._held)

    def holder(self, protocol: str, port: int) -> Holder | None:
        return self._held.get((protocol, port))

    def _hold(self, holder: Holder, ports: tuple[PortConfig, ...]) -> None:
        for port in ports:
            self._held[_key(port)] = holder
        self._by_service[holder.service_id] = self._by_service.get(holder.service_id, ()) + ports

    def _resolve(self, holder: Holder, port: PortConfig, sticky: list[PortConfig]) -> PortConfig:
        if not _ingress(port):
            return port
        protocol = str(port.protocol or PortProtocol.TCP)
        published = (
            port.published_port or self._kept(port, protocol, sticky) or self._lowest_free(protocol)
        )
        other = self._held.get((protocol, published))
        if other is not None:
            raise PortConflict(published, other.service_name, other.service_id)
        resolved = PortConfig(
            name=port.name,
            protocol=port.protocol or PortProtocol.TCP,
            target_port=port.target_port,
            published_port=published,
            publish_mode=port.publish_mode or PublishMode.INGRESS,
        )
        self._hold(holder, (resolved,))
        return resolved

    def _kept(self, port: PortConfig, protocol: str, sticky: list[PortConfig]) -> int:
        """The port this service was given before for the same name, protocol and
        target, if it is still free (0 if none)."""
        for index, old in enumerate(sticky):
            same = (old.name, old.target_port) == (port.name, port.target_port)
            if same and _key(old)[0] == protocol and _key(old) not in self._held:
                del sticky[index]
                return old.published_port
        return 0

    def _lowest_free(self, protocol: str) -> int:
        for candidate in range(DYNAMIC_PORT_MIN, DYNAMIC_PORT_MAX + 1):
            if (protocol, candidate) not in self._held:
                return candidate
        raise PortsExhausted(protocol)


def _ingress(port: PortConfig) -> bool:
    return port.publish_mode is not PublishMode.HOST


def _key(port: PortConfig) -> tuple[str, int]:
    return str(port.protocol or PortProtocol.TCP), port.published_port
