"""Which nodes are alive: sessions, heartbeats and the timers that mark nodes
DOWN and, a day later, their tasks ORPHANED (SwarmKit's dispatcher, §9.1).

- A node registers and gets a session; it heartbeats every *period*, drawn anew
  each time from the cluster's period (``swarm update --dispatcher-heartbeat``,
  5 s by default) +/- 0.5 s; a node silent for 3 periods (13.5-16.5 s by default)
  is DOWN ("heartbeat failure") and its session ends.
- When this manager becomes leader every node not already DOWN is UNKNOWN and gets
  6 periods (27-33 s) to register with it before it is DOWN.
- A node DOWN for 24 hours has its tasks orphaned (their containers may still be
  running behind a partition, so they are not simply deleted). Registering again
  stops that timer.
- More than 3 registrations of one node in 8 s are refused (a flapping agent).

Inputs carry the time; outputs are the status changes and orphanings to write.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import ShoalError
from core.model.defaults import (
    DISPATCHER_HEARTBEAT_JITTER_NS,
    DISPATCHER_HEARTBEAT_PERIOD_NS,
)
from core.model.duration import SECOND
from core.model.enums import NodeState
from core.model.ids import new_id
from core.timers import TimerHeap

HEARTBEAT_MISSES_MAX = 3  # periods of silence before a node is DOWN
UNKNOWN_GRACE_PERIODS = 6  # after a leader change
ORPHAN_AFTER_SECONDS = 24 * 3600.0
REGISTRATIONS_MAX, REGISTRATION_WINDOW_SECONDS = 3, 8.0
DOWN_MESSAGE = "heartbeat failure"
UNKNOWN_MESSAGE = "Node moved to 'unknown' state due to leadership change in cluster"


class SessionError(ShoalError):
    """A heartbeat or registration the dispatcher refuses (SwarmKit's words)."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    node_id: str
    state: NodeState
    message: str = ""


@dataclass(frozen=True, slots=True)
class Orphan:
    """Every task of this node in ASSIGNED..RUNNING is to become ORPHANED."""

    node_id: str


class NodeLiveness:
    """Sessions and deadlines of every node, on the leader."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.base_period = DISPATCHER_HEARTBEAT_PERIOD_NS / SECOND  # the cluster's setting
        self.sessions: dict[str, str] = {}  # node id -> session id
        self.down: set[str] = set()
        self._expiry: TimerHeap[tuple[str, str]] = TimerHeap()  # (kind, node id)
        self._registrations: dict[str, deque[float]] = {}

    def period(self) -> float:
        """A heartbeat period: the base period (5 s by default), give or take 0.5 s
        (never below half the base, for a base of a second or less)."""
        base = self.base_period
        jitter = min(DISPATCHER_HEARTBEAT_JITTER_NS / SECOND, base / 2)
        return base - jitter + self.rng.random() * 2 * jitter

    # -- inputs ---------------------------------------------------------------------------

    def register(self, node_id: str, now: float) -> tuple[str, float, StatusChange]:
        """A node opens a session: its id, the first period, and the status to write."""
        recent = self._registrations.setdefault(node_id, deque())
        while recent and now - recent[0] >= REGISTRATION_WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= REGISTRATIONS_MAX:
            raise SessionError(f"node {node_id} attempted registration too recently")
        recent.append(now)
        session = new_id(self.rng)
        self.sessions[node_id] = session
        self.down.discard(node_id)
        self._expiry.cancel(("orphan", node_id))
        period = self.period()
        self._expiry.arm(("down", node_id), now + period * HEARTBEAT_MISSES_MAX)
        return session, period, StatusChange(node_id, NodeState.READY)

    def heartbeat(self, node_id: str, session: str, now: float) -> float:
        """A heartbeat in a live session: the period to wait before the next one."""
        current = self.sessions.get(node_id)
        if current is None:
            raise SessionError("node not registered")
        if current != session:
            raise SessionError("session invalid")
        period = self.period()
        self._expiry.arm(("down", node_id), now + period * HEARTBEAT_MISSES_MAX)
        return period

    def leader_started(
        self, nodes: Iterable[tuple[str, NodeState]], now: float
    ) -> list[StatusChange]:
        """This manager just became leader: every session is gone; nodes not DOWN are
        UNKNOWN until they register or their grace runs out; DOWN nodes' day starts
        again."""
        self.sessions.clear()
        changes = []
        for node_id, state in sorted(nodes):
            if state is NodeState.DOWN:
                self.down.add(node_id)
                self._expiry.arm(("orphan", node_id), now + ORPHAN_AFTER_SECONDS)
            else:
                self._expiry.arm(("down", node_id), now + self.period() * UNKNOWN_GRACE_PERIODS)
                changes.append(StatusChange(node_id, NodeState.UNKNOWN, UNKNOWN_MESSAGE))
        return changes

    def node_removed(self, node_id: str) -> None:
        self.sessions.pop(node_id, None)
        self.down.discard(node_id)
        self._expiry.cancel(("down", node_id))
        self._expiry.cancel(("orphan", node_id))

    def tick(self, now: float) -> list[StatusChange | Orphan]:
        """What the deadlines up to ``now`` decide, in deadline order."""
        outputs: list[StatusChange | Orphan] = []
        for kind, node_id in self._expiry.pop_due(now):
            if kind == "down":
                self.sessions.pop(node_id, None)
                self.down.add(node_id)
                self._expiry.arm(("orphan", node_id), now + ORPHAN_AFTER_SECONDS)
                outputs.append(StatusChange(node_id, NodeState.DOWN, DOWN_MESSAGE))
            else:
                outputs.append(Orphan(node_id))
        return outputs

    @property
    def next_deadline(self) -> float | None:
        return self._expiry.next_deadline
