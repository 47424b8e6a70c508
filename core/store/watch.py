"""The watch queue: committed events to the components that asked for them.

Components (orchestrators, scheduler, dispatcher...) subscribe with a filter and
drain their :class:`Subscription` when the node steps them, so events arrive only
after commit, in commit order, and identically on every manager. Every queue has a
bound (SwarmKit's ``LimitQueue``): a subscriber that falls that far behind is
closed rather than allowed to grow without limit, and must start again from a
fresh view of the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.store.actions import ActionKind
from core.store.store import Event, EventCommit

#: Events a subscriber may have waiting before it is closed.
PENDING_EVENTS_MAX = 100_000


@dataclass(slots=True)
class Subscription:
    """One subscriber's filter and its waiting events. ``closed`` is set when the
    subscriber fell more than ``limit`` events behind (its events are dropped)."""

    tables: frozenset[str] | None = None
    kinds: frozenset[ActionKind] | None = None
    where: Callable[[Event], bool] | None = None
    commits: bool = True  # also deliver EventCommit markers
    limit: int = PENDING_EVENTS_MAX
    pending: deque[Event | EventCommit] = field(default_factory=deque)
    closed: bool = False

    def wants(self, event: Event | EventCommit) -> bool:
        if isinstance(event, EventCommit):
            return self.commits
        return (
            (self.tables is None or event.table in self.tables)
            and (self.kinds is None or event.kind in self.kinds)
            and (self.where is None or self.where(event))
        )

    def drain(self) -> list[Event | EventCommit]:
        events = list(self.pending)
        self.pending.clear()
        return events


class WatchQueue:
    """Fans committed events out to subscriptions, in subscription order."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, subscription: Subscription) -> Subscription:
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)

    def publish(self, events: Iterable[Event | EventCommit]) -> None:
        batch = tuple(events)
        for subscription in self._subscriptions:
            if subscription.closed:
                continue
            for event in batch:
                if subscription.wants(event):
                    subscription.pending.append(event)
            if len(subscription.pending) > subscription.limit:
                subscription.pending.clear()
                subscription.closed = True
