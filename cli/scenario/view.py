"""What a scenario's expectations look at, whatever runs the swarm: which host leads,
the leader's committed state, and how many task containers run on a host.

The simulated world (:class:`SimView`) and a real cluster (real/scenario/view.py)
both provide it, so one set of conditions judges both. A view is read, never
written: the store it hands out is the leader's (a copy, for a real cluster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

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
