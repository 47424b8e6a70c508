"""What a scenario's expectations look at, whatever runs the swarm: which host leads,
the leader's committed state, and how many task containers run on a host.

The simulated world (:class:`SimView`) and a real cluster (real/scenario/view.py)
both provide it, so one set of conditions judges both. A view is read, never
written: the store it hands out is the leader's (a copy, for a real cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from core.model.service import Service
from core.model.task import Task
from core.store import MemoryStore

if TYPE_CHECKING:
    from sim.cluster import ClusterWorld


class ClusterView(Protocol):
    def leader(self) -> str:
        """The leading host's scenario name ("" when none leads)."""
        ...

    def leader_store(self) -> MemoryStore | None:
        """The leader's committed services, tasks and nodes (None when none leads)."""
        ...

    def containers_on(self, host: str) -> int:
        """How many task containers run on ``host`` now."""
        ...

    def request(self, target: str, port: int, client: str, count: int) -> list[str]:
        """Connect ``count`` times, one after the other: to ``port`` of the host
        ``target`` (``client`` empty), or from a running task of the service
        ``client`` to the name ``target`` (``port`` its port, 0 for the service's
        first published target). The task id that answered each, "" where none did."""
        ...

    def resolve(self, client: str, name: str) -> tuple[str, ...] | None:
        """What the embedded DNS answers for ``name`` to a running task of the
        service ``client`` (None: no such name, or no such task)."""
        ...

    def holders(self, kind: str, name: str) -> list[str]:
        """The hosts (sorted) whose agent holds the ``kind`` ("secret" or "config")
        called ``name`` now."""
        ...


class SimView:
    """A simulated world as a :class:`ClusterView`."""

    def __init__(self, world: ClusterWorld) -> None:
        self.world = world

    def leader(self) -> str:
        leader = self.world.leader()
        return leader.name if leader is not None else ""

    def leader_store(self) -> MemoryStore | None:
        return self.world.leader_store()

    def containers_on(self, host: str) -> int:
        return len(self.world.running_containers().get(host, ()))

    def request(self, target: str, port: int, client: str, count: int) -> list[str]:
        traffic = self.world.traffic
        if not client:
            return [traffic.to_port(target, port).task_id for _ in range(count)]
        task = self._client_task(client)
        if task is None:
            return [""] * count
        return [traffic.from_task(task, target).task_id for _ in range(count)]

    def resolve(self, client: str, name: str) -> tuple[str, ...] | None:
        task = self._client_task(client)
        return None if task is None else self.world.traffic.resolve_from(task, name)

    def holders(self, kind: str, name: str) -> list[str]:
        return [
            host.name
            for host in self.world.up_hosts()
            if host.node is not None and name in host.node.info()["held"][kind]
        ]

    def _client_task(self, service_name: str) -> Task | None:
        """The service's first task (by slot, then id) whose container runs."""
        store = self.leader_store()
        running = {c for ids in self.world.running_containers().values() for c in ids}
        return first_task(store, service_name, lambda t: t.id in running)


def first_task(
    store: MemoryStore | None, service_name: str, keep: Callable[[Task], bool]
) -> Task | None:
    """The first task (by slot, then id) of the service named ``service_name`` that
    ``keep`` accepts: the one a scenario's traffic starts from."""
    if store is None:
        return None
    services = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    service = next((s for s in services if s.spec.name == service_name), None)
    if service is None:
        return None
    tasks = sorted(
        (
            t
            for t in store.tables["tasks"].values()
            if isinstance(t, Task) and t.service_id == service.id
        ),
        key=lambda t: (t.slot, t.id),
    )
    return next((t for t in tasks if keep(t)), None)
