"""Every node the scheduler knows, with the indexes that keep a pass fast.

A pass over 5,000 nodes for each of 1,000 services would cost five million node
visits; instead the node set keeps

- partitions: for each set of static requirements and spread preferences, the
  decision tree of label values with the statically eligible nodes at its leaves,
  built once and dropped when any node changes (node changes are rare, task
  changes are not);
- in each leaf, its nodes ordered by how many active tasks they run (then by id),
  kept up to date as tasks come and go, so that the least loaded eligible nodes of a
  branch are found in a few steps instead of by sorting them all;
- for each service, the nodes that run it, and for each service version, the nodes
  where it failed: the only nodes whose rank differs from their load order.

All iteration is in sorted order, so the result never depends on hash seeds.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator

from core.model.node import Node
from core.model.task import Task
from core.scheduler.constraint import ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX
from core.scheduler.nodeinfo import NodeInfo, ServiceVersion

#: Partitions kept at once. Each assignment updates the load order of every cached
#: leaf its node is in, so the cache is bounded; past it, all are dropped and rebuilt.
PARTITIONS_MAX = 64


class LoadOrder:
    """Node ids ordered by (active task count, id)."""

    __slots__ = ("_buckets", "_loads")

    def __init__(self) -> None:
        self._buckets: dict[int, list[str]] = {}  # load -> sorted node ids
        self._loads: list[int] = []  # the loads that have a bucket, ascending

    def add(self, node_id: str, load: int) -> None:
        bucket = self._buckets.get(load)
        if bucket is None:
            bucket = self._buckets[load] = []
            bisect.insort(self._loads, load)
        bisect.insort(bucket, node_id)

    def remove(self, node_id: str, load: int) -> None:
        bucket = self._buckets[load]
        del bucket[bisect.bisect_left(bucket, node_id)]
        if not bucket:
            del self._buckets[load]
            del self._loads[bisect.bisect_left(self._loads, load)]

    def __iter__(self) -> Iterator[str]:
        """Least loaded first. The order must not change while it is iterated."""
        for load in self._loads:
            yield from self._buckets[load]


class Branch:
    """One node of a decision tree: children by label value (sorted), or, at a
    leaf, the statically eligible nodes under it, as a set and in load order."""

    __slots__ = ("children", "members", "order")

    def __init__(self) -> None:
        self.children: dict[str, Branch] = {}
        self.members: set[str] = set()
        self.order = LoadOrder()


class Partition:
    """The decision tree of one list of spread preferences over every node (nodes
    that fail the static filters still shape the tree and count their tasks, as in
    SwarmKit, but are not members of any leaf)."""

    __slots__ = ("paths", "root")

    def __init__(
        self,
        infos: dict[str, NodeInfo],
        descriptors: tuple[str, ...],
        eligible: Callable[[NodeInfo], bool],
    ) -> None:
        self.root = Branch()
        self.paths: dict[str, tuple[Branch, ...]] = {}  # node id -> branches root..leaf
        for node_id in sorted(infos):
            info = infos[node_id]
            branch, path = self.root, [self.root]
            for descriptor in descriptors:
                branch = branch.children.setdefault(spread_value(info.node, descriptor), Branch())
                path.append(branch)
            self.paths[node_id] = tuple(path)
            if eligible(info):
                branch.members.add(node_id)
                branch.order.add(node_id, info.active_tasks)
        _sort_children(self.root)

    def leaves(self) -> Iterator[Branch]:
        stack = [self.root]
        while stack:
            branch = stack.pop()
            if branch.children:
                stack.extend(branch.children.values())
            else:
                yield branch


def _sort_children(branch: Branch) -> None:
    branch.children = {value: branch.children[value] for value in sorted(branch.children)}
    for child in branch.children.values():
        _sort_children(child)


def spread_value(node: Node, descriptor: str) -> str:
    """The node's value for a spread descriptor; ``""`` when it has no such label,
    so unlabelled nodes form one branch of their own (SwarmKit's behaviour)."""
    lowered = descriptor.lower()
    if lowered.startswith(NODE_LABEL_PREFIX):
        return node.spec.labels.get(descriptor[len(NODE_LABEL_PREFIX) :], "")
    if lowered.startswith(ENGINE_LABEL_PREFIX):
        return node.description.engine.labels.get(descriptor[len(ENGINE_LABEL_PREFIX) :], "")
    return ""


class NodeSet:
    """The scheduler's nodes and their indexes; every change to a node's tasks goes
    through here so that the indexes stay exact."""

    def __init__(self) -> None:
        self.infos: dict[str, NodeInfo] = {}
        self.service_nodes: dict[str, set[str]] = {}  # service id -> nodes running it
        self.failure_nodes: dict[ServiceVersion, set[str]] = {}
        self._partitions: dict[tuple[object, ...], Partition] = {}
        self._leaves_of: dict[str, list[Branch]] = {}  # node id -> leaves it is in

    # -- nodes -----------------------------------------------------------------------

    def add_or_update_node(self, node: Node, tasks: tuple[Task, ...] = ()) -> None:
        info = self.infos.get(node.id)
        if info is None:
            info = self.infos[node.id] = NodeInfo(node)
            for task in tasks:
                self.add_task(info, task)
        else:
            info.update_node(node)
        self._drop_partitions()

    def remove_node(self, node_id: str) -> None:
        info = self.infos.pop(node_id, None)
        if info is None:
            return
        for service_id in info.active_by_service:
            self._unindex_service(service_id, node_id)
        self._drop_partitions()

    # -- tasks -----------------------------------------------------------------------

    def add_task(self, info: NodeInfo, task: Task) -> Task:
        """Count ``task`` on ``info``'s node; returns the task as stored there."""
        before = info.active_tasks, info.active_by_service.get(task.service_id, 0)
        _, stored = info.add_task(task)
        self._reindex(info, task.service_id, before)
        return stored

    def remove_task(self, info: NodeInfo, task: Task) -> bool:
        before = info.active_tasks, info.active_by_service.get(task.service_id, 0)
        removed = info.remove_task(task.id)
        self._reindex(info, task.service_id, before)
        return removed

    def task_failed(self, info: NodeInfo, task: Task, now: float) -> None:
        info.task_failed(task, now)
        key = (task.service_id, task.spec_version.index if task.spec_version else 0)
        self.failure_nodes.setdefault(key, set()).add(info.id)

    def _reindex(self, info: NodeInfo, service_id: str, before: tuple[int, int]) -> None:
        load_before, count_before = before
        if info.active_tasks != load_before:
            for leaf in self._leaves_of.get(info.id, ()):
                leaf.order.remove(info.id, load_before)
                leaf.order.add(info.id, info.active_tasks)
        count = info.active_by_service.get(service_id, 0)
        if count and not count_before:
            self.service_nodes.setdefault(service_id, set()).add(info.id)
        elif count_before and not count:
            self._unindex_service(service_id, info.id)

    def _unindex_service(self, service_id: str, node_id: str) -> None:
        nodes = self.service_nodes.get(service_id)
        if nodes is not None:
            nodes.discard(node_id)
            if not nodes:
                del self.service_nodes[service_id]

    # -- partitions --------------------------------------------------------------------

    def partition(
        self,
        key: tuple[object, ...],
        descriptors: tuple[str, ...],
        eligible: Callable[[NodeInfo], bool],
    ) -> Partition:
        """The decision tree for ``descriptors`` over the nodes that pass the static
        filters identified by ``key`` (cached until a node changes)."""
        cache_key = (key, descriptors)
        partition = self._partitions.get(cache_key)
        if partition is None:
            if len(self._partitions) >= PARTITIONS_MAX:
                self._drop_partitions()
            partition = self._partitions[cache_key] = Partition(self.infos, descriptors, eligible)
            for leaf in partition.leaves():
                for node_id in leaf.members:
                    self._leaves_of.setdefault(node_id, []).append(leaf)
        return partition

    def _drop_partitions(self) -> None:
        self._partitions.clear()
        self._leaves_of.clear()
