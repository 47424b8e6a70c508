"""``raft safety`` and ``task invariants`` of a real cluster, judged at every look
(the simulator's checkers watch every step of every node; a real run sees only what
the daemons answer every half second, so these are the properties that can be told
from that):

- **raft safety**: at most one leader per term among the managers' Info (election
  safety, across every look of the run); a manager's term never goes back (it is
  durable, so not even across a restart); a manager's commit index never goes back
  while its daemon runs (the runner forgets it when it crashes or restarts the host).
- **task invariants**: sim/cluster_checks.py's :class:`TaskChecker`, fed the change
  between two looks at the same leadership (leader and term) as one transaction:
  states only rise, and a task newly assigned went to a known node its constraints
  match that was ready and active at one of the two looks (the snapshots cannot say
  which came first, so the order that explains them is taken); and the reaction
  bound, sampled from every look's store, its clock stopped while the leader holds
  entries it cannot commit.

A violation raises the simulator's own exception (SafetyViolation, TaskViolation),
which fails the expectation that names it.
"""

from __future__ import annotations

from core.model.enums import NodeAvailability, NodeState
from core.model.node import Node
from core.model.task import Task
from core.store import Event, MemoryStore
from core.store.actions import ActionKind
from real.scenario.view import RealView
from sim.cluster_checks import TaskChecker
from sim.raft_checks import SafetyViolation


class RaftWatch:
    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> the host seen leading in it
        self.terms: dict[str, int] = {}
        self.commits: dict[str, int] = {}

    def forget(self, host: str) -> None:
        """``host``'s daemon was crashed or restarted: its commit index starts again."""
        self.commits.pop(host, None)

    def look(self, view: RealView) -> None:
        for host in sorted(view.infos):
            info = view.infos[host]
            if info.leader:
                seen = self.leaders.setdefault(info.term, host)
                if seen != host:
                    raise SafetyViolation(
                        "election safety", f"{seen} and {host} both led in term {info.term}"
                    )
            if info.term < self.terms.get(host, 0):
                raise SafetyViolation(
                    "terms only rise",
                    f"{host} went from term {self.terms[host]} to {info.term}",
                )
            self.terms[host] = info.term
            if info.commit_index < self.commits.get(host, 0):
                raise SafetyViolation(
                    "commits never go back",
                    f"{host}'s commit index went from {self.commits[host]} to {info.commit_index}",
                )
            self.commits[host] = info.commit_index


class TaskWatch:
    def __init__(self) -> None:
        self.checker = TaskChecker()
        self.before: MemoryStore | None = None
        self.leadership: tuple[str, int] = ("", 0)
        self.commit = (0, 0)  # the leader's commit index and last index at the last look

    def look(self, now: float, view: RealView) -> None:
        store = view.store
        info = view.infos.get(view.leading)
        if store is None or info is None:
            return
        leadership = (view.leading, info.term)
        if self.before is not None and leadership == self.leadership:
            self.checker.on_applied(store, _changes(self.before, store))
        stalled = (
            leadership == self.leadership
            and info.commit_index == self.commit[0]
            and info.last_index > info.commit_index
        )
        self.checker.sample(now, store, leadership, stalled)
        self.before, self.leadership = store, leadership
        self.commit = (info.commit_index, info.last_index)


def _changes(before: MemoryStore, after: MemoryStore) -> list[Event]:
    """What changed from one look to the next, as one transaction: a node that was
    ready and active at the first look changes after the tasks (they are judged
    against it as it was), any other before them (judged as it is now)."""
    first: list[Event] = []
    last: list[Event] = []
    old_nodes = before.tables["nodes"]
    for node_id, node in sorted(after.tables["nodes"].items()):
        old = old_nodes.get(node_id)
        if old == node:
            continue
        event = Event(ActionKind.CREATE if old is None else ActionKind.UPDATE, "nodes", old, node)
        (last if isinstance(old, Node) and _available(old) else first).append(event)
    tasks = []
    old_tasks = before.tables["tasks"]
    for task_id, task in sorted(after.tables["tasks"].items()):
        old = old_tasks.get(task_id)
        if old != task and isinstance(task, Task):
            kind = ActionKind.CREATE if old is None else ActionKind.UPDATE
            tasks.append(Event(kind, "tasks", old, task))
    return [*first, *tasks, *last]


def _available(node: Node) -> bool:
    return node.status.state is NodeState.READY and (
        node.spec.availability is NodeAvailability.ACTIVE
    )
