"""Which tasks belong to which service and node, kept up to date from store events.

The store is a set of tables keyed by id; the leader's components ask "the tasks of
this service", "the tasks on this node" and "the tasks on this network" many times a
second, which a scan of
100,000 tasks cannot answer. The index follows committed events only, so it is
exactly the committed state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from core.model.task import Task
from core.store.store import Event, EventCommit

K = TypeVar("K")


SlotKey = tuple[str, int | str]  # (service id, slot; or node id for a global task)


def slot_key(task: Task) -> SlotKey:
    """A task's place in its service: its slot, or its node when it has none (global)."""
    return (task.service_id, task.slot if task.slot else task.node_id)


class TaskIndex:
    def __init__(self, tasks: Iterable[Task] = ()) -> None:
        self.by_service: dict[str, set[str]] = {}
        self.by_node: dict[str, set[str]] = {}
        self.by_slot: dict[SlotKey, set[str]] = {}
        self.by_network: dict[str, set[str]] = {}  # tasks with an address on it
        self.service_of: dict[str, str] = {}
        for task in tasks:
            self._add(task)

    def _add(self, task: Task) -> None:
        self.service_of[task.id] = task.service_id
        self.by_service.setdefault(task.service_id, set()).add(task.id)
        self.by_slot.setdefault(slot_key(task), set()).add(task.id)
        if task.node_id:
            self.by_node.setdefault(task.node_id, set()).add(task.id)
        for attachment in task.networks_attachments:
            self.by_network.setdefault(attachment.network.id, set()).add(task.id)

    def _drop(self, task: Task) -> None:
        self.service_of.pop(task.id, None)
        _discard(self.by_service, task.service_id, task.id)
        _discard(self.by_slot, slot_key(task), task.id)
        if task.node_id:
            _discard(self.by_node, task.node_id, task.id)
        for attachment in task.networks_attachments:
            _discard(self.by_network, attachment.network.id, task.id)

    def on_event(self, event: Event | EventCommit) -> None:
        if isinstance(event, EventCommit) or event.table != "tasks":
            return
        if event.old is not None:
            assert isinstance(event.old, Task)
            self._drop(event.old)
        if event.new is not None:
            assert isinstance(event.new, Task)
            self._add(event.new)

    def of_service(self, service_id: str) -> list[str]:
        return sorted(self.by_service.get(service_id, ()))

    def on_node(self, node_id: str) -> list[str]:
        return sorted(self.by_node.get(node_id, ()))

    def on_network(self, network_id: str) -> list[str]:
        return sorted(self.by_network.get(network_id, ()))


def _discard(index: dict[K, set[str]], key: K, task_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(task_id)
        if not ids:
            del index[key]
