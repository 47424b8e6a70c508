"""Placing one group of identical tasks: the spread over preferences and nodes.

This is SwarmKit's ``scheduleTaskGroup`` made deterministic. Nodes rank by
(recent failures if either has 5 or more, tasks of this service, tasks in total);
ties go to the lower node id, and branches of the preference tree are visited in
sorted label order (``""``, the branch of unlabelled nodes, first), where SwarmKit
iterates Go maps in random order.

- **Tree** (``distribute``): at each level the tasks are shared so that every branch
  ends with ``(tasks already there + new) / branches``; a branch that cannot take its
  share is closed and its part goes to the others, round after round.
- **Leaf** (``fill_leaf``): the best nodes in rank order; the first pass fills each
  node until the next one ranks better ("until they have the same number of tasks
  of this service"), later passes go round robin; a node that no longer fits after
  an assignment is skipped. SwarmKit stops when the best ``n`` nodes of a leaf are
  all full; shoal then takes the next best node of the leaf, so that a task is never
  left pending while a node in its branch could take it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from core.errors import InvariantViolation
from core.model.task import Task
from core.scheduler.filters import Filter, TaskNeeds
from core.scheduler.nodeinfo import RECENT_FAILURES_MAX, NodeInfo, ServiceVersion
from core.scheduler.nodeset import Branch, NodeSet

Rank = tuple[int, int, int]
Assign = Callable[[Task, NodeInfo], None]


class GroupSpread:
    """Places the tasks of one group; :meth:`run` returns how many it placed."""

    def __init__(
        self,
        nodes: NodeSet,
        needs: TaskNeeds,
        version: ServiceVersion,
        dynamic: tuple[type[Filter], ...],
        now: float,
        assign: Assign,
    ) -> None:
        self.nodes = nodes
        self.needs = needs
        self.version = version
        self.dynamic = dynamic
        self.now = now
        self.assign = assign
        self.counts: dict[Branch, int] = {}  # tasks of this service under each branch

    def run(self, root: Branch, paths: dict[str, tuple[Branch, ...]], tasks: deque[Task]) -> int:
        for node_id in sorted(self.nodes.service_nodes.get(self.needs.service_id, ())):
            count = self.nodes.infos[node_id].active_by_service[self.needs.service_id]
            for branch in paths[node_id]:
                self.counts[branch] = self.counts.get(branch, 0) + count
        return self.distribute(root, len(tasks), tasks)

    # -- ranking -------------------------------------------------------------------------

    def rank(self, info: NodeInfo) -> Rank:
        failures = info.count_recent_failures(self.now, self.version)
        return (
            failures if failures >= RECENT_FAILURES_MAX else 0,
            info.active_by_service.get(self.needs.service_id, 0),
            info.active_tasks,
        )

    def fits(self, info: NodeInfo) -> bool:
        return all(f.check(self.needs, info) for f in self.dynamic)

    # -- the tree --------------------------------------------------------------------------

    def distribute(self, branch: Branch, n: int, tasks: deque[Task]) -> int:
        if not branch.children:
            return self.fill_leaf(branch, n, tasks)
        scheduled = 0
        usable_tasks = self.counts.get(branch, 0)
        children = tuple(branch.children.values())
        closed: set[int] = set()
        while scheduled < n and len(closed) != len(children):
            desired, remainder = divmod(usable_tasks + n - scheduled, len(children) - len(closed))
            progress = scheduled, len(closed)
            for position, child in enumerate(children):
                if position in closed or scheduled == n:
                    continue
                child_tasks = self.counts.get(child, 0)
                if child_tasks > desired or (child_tasks == desired and remainder == 0):
                    continue
                # SwarmKit asks for the branch's whole share even when that is more
                # than this level still has to place (a branch below is uneven),
                # overshoots, and can then loop for ever; shoal never asks for more.
                wanted = min(desired - child_tasks + (1 if remainder > 0 else 0), n - scheduled)
                placed = self.distribute(child, wanted, tasks)
                if placed < wanted:
                    closed.add(position)
                    usable_tasks -= child_tasks
                elif remainder > 0:
                    remainder -= 1
                scheduled += placed
            if (scheduled, len(closed)) == progress:
                raise InvariantViolation(f"spread made no progress placing {n} tasks")
        return scheduled

    # -- a leaf ----------------------------------------------------------------------------

    def candidates(self, leaf: Branch, exclude: frozenset[str] = frozenset()) -> Iterator[NodeInfo]:
        """The leaf's nodes that fit now, best first: nodes without this service's
        tasks or failures in load order, then the others by rank."""
        infos, members = self.nodes.infos, leaf.members
        special = set(self.nodes.service_nodes.get(self.needs.service_id, ()))
        special.update(
            node_id
            for node_id in self.nodes.failure_nodes.get(self.version, ())
            if node_id in infos
            and infos[node_id].count_recent_failures(self.now, self.version) >= RECENT_FAILURES_MAX
        )
        special &= members
        for node_id in leaf.order:
            if node_id not in special and node_id not in exclude:
                info = infos[node_id]
                if self.fits(info):
                    yield info
        ranked = sorted((self.rank(infos[i]), i) for i in special if i not in exclude)
        for _, node_id in ranked:
            if self.fits(infos[node_id]):
                yield infos[node_id]

    def fill_leaf(self, leaf: Branch, n: int, tasks: deque[Task]) -> int:
        nodes: list[NodeInfo] = []
        for info in self.candidates(leaf):
            nodes.append(info)
            if len(nodes) == n:
                break
        scheduled, position = 0, 0
        full: set[int] = set()
        while nodes and tasks:
            current = nodes[position % len(nodes)]
            self.assign(tasks.popleft(), current)
            scheduled += 1
            if scheduled == n:
                break
            if position + 1 < len(nodes):  # first pass: fill until the next ranks better
                if self.rank(nodes[position + 1]) < self.rank(current):
                    position += 1
            else:
                position += 1
            position = self._next_fitting(leaf, nodes, position, full)
            if position < 0:
                break
        return scheduled

    def _next_fitting(
        self, leaf: Branch, nodes: list[NodeInfo], position: int, full: set[int]
    ) -> int:
        """The position of the next node from ``position`` on that still fits, adding
        the leaf's next best node when none of ``nodes`` does; -1 when none can."""
        start = position
        while (position % len(nodes)) in full or not self.fits(nodes[position % len(nodes)]):
            full.add(position % len(nodes))
            position += 1
            if position - start == len(nodes):
                used = frozenset(info.id for info in nodes)
                extra = next(self.candidates(leaf, exclude=used), None)
                if extra is None:
                    return -1
                nodes.append(extra)
                return len(nodes) - 1
        return position
