"""What a scenario's expectations say, read once (a wrong one is the file's mistake)
and asked of a swarm at any instant: a simulated one or a real one, through the
:class:`~cli.scenario.view.ClusterView` both provide.

- ``service NAME running 6/6``: the REPLICAS column of ``docker service ls``;
- ``service NAME spread over node.labels.rack``: its running tasks per value of the
  label differ by at most one (what ``--placement-pref spread=`` asks for), over
  at least two values;
- ``service NAME has 4 tasks``: in the store, history included (``service ps``);
- ``update NAME completed`` (or updating, paused, rollback_started,
  rollback_paused, rollback_completed);
- ``leader is manager-1``, ``leader is not manager-1``, ``no leader``;
- ``node worker-3 down`` (or ready, unknown, disconnected);
- ``no task on worker-3 after 30s`` (throughout: nothing wanted on its node, no
  container running on it);
- ``raft safety``, ``task invariants`` (throughout: the runner's own checkers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cli.output.views import replicas
from cli.scenario.view import ClusterView
from core.errors import ShoalError
from core.model.duration import parse_duration
from core.model.enums import NodeState, UpdateState
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.tasks.states import TaskState

Probe = Callable[[ClusterView], tuple[bool, str]]  # holds?, what was seen


class BadCondition(ShoalError):
    """An expectation shoal cannot read."""


@dataclass(frozen=True)
class Condition:
    text: str
    probe: Probe | None  # None: checked by the runner's own checkers
    after: float = 0.0  # for "no task on X after T"
    host: str = ""  # the host it names, if any (the scenario must have it)


CHECKERS = ("raft safety", "task invariants")


def read(text: str) -> Condition:
    words = text.split()
    if text in CHECKERS:
        return Condition(text, None)
    if match := re.fullmatch(r"service (\S+) running (\d+/\d+.*)", text):
        return Condition(text, _replicas(match.group(1), match.group(2)))
    if match := re.fullmatch(r"service (\S+) has (\d+) tasks?", text):
        return Condition(text, _task_count(match.group(1), int(match.group(2))))
    if match := re.fullmatch(r"service (\S+) spread over node\.labels\.(\S+)", text):
        return Condition(text, _spread(match.group(1), match.group(2)))
    if match := re.fullmatch(r"update (\S+) (\S+)", text):
        updates = {s.value: s for s in UpdateState}
        if match.group(2) not in updates:
            raise BadCondition(f"an update is one of {', '.join(updates)}, not {match.group(2)!r}")
        return Condition(text, _update(match.group(1), updates[match.group(2)]))
    if match := re.fullmatch(r"leader is (not )?(\S+)", text):
        host = match.group(2)
        return Condition(text, _leader(host, negate=bool(match.group(1))), host=host)
    if text == "no leader":
        return Condition(text, _leader("", negate=False))
    if match := re.fullmatch(r"node (\S+) (\S+)", text):
        nodes = {s.value: s for s in NodeState}
        if match.group(2) not in nodes:
            raise BadCondition(f"a node is one of {', '.join(nodes)}, not {match.group(2)!r}")
        return Condition(text, _node(match.group(1), nodes[match.group(2)]), host=match.group(1))
    if match := re.fullmatch(r"no task on (\S+) after (\S+)", text):
        try:
            after = parse_duration(match.group(2)) / 1e9
        except ShoalError as error:
            raise BadCondition(str(error)) from None
        return Condition(text, _no_task_on(match.group(1)), after=after, host=match.group(1))
    known = (
        "service X running N/M, service X has N tasks, service X spread over node.labels.L, "
        "update X STATE, "
        "leader is [not] X, no leader, node X STATE, "
    )
    raise BadCondition(
        f"cannot read {' '.join(words)!r}: expected one of {known}no task on X after T, "
        f"{', '.join(CHECKERS)}"
    )


def _service(view: ClusterView, name: str) -> tuple[Service | None, list[Task]]:
    store = view.leader_store()
    if store is None:
        return None, []
    services = [s for s in store.tables["services"].values() if isinstance(s, Service)]
    found = next((s for s in services if s.spec.name == name), None)
    tasks = [
        t
        for t in store.tables["tasks"].values()
        if isinstance(t, Task) and found is not None and t.service_id == found.id
    ]
    return found, tasks


Judge = Callable[[Service, list[Task], ClusterView], tuple[bool, str]]


def _of_service(name: str, judge: Judge) -> Probe:
    """A probe of the service ``name`` (failing, and saying so, while there is none)."""

    def probe(view: ClusterView) -> tuple[bool, str]:
        service, tasks = _service(view, name)
        if service is None:
            return False, f"no service {name}" if view.leader_store() else "no leader"
        return judge(service, tasks, view)

    return probe


def _replicas(name: str, wanted: str) -> Probe:
    def judge(service: Service, tasks: list[Task], _view: ClusterView) -> tuple[bool, str]:
        seen = replicas(service, tasks)
        return seen == wanted, f"running {seen}"

    return _of_service(name, judge)


def _spread(name: str, label: str) -> Probe:
    def judge(_service: Service, tasks: list[Task], view: ClusterView) -> tuple[bool, str]:
        store = view.leader_store()
        assert store is not None
        nodes = {n.id: n for n in store.tables["nodes"].values() if isinstance(n, Node)}
        values = {n.spec.labels[label]: 0 for n in nodes.values() if label in n.spec.labels}
        for task in tasks:
            placed = nodes.get(task.node_id)
            if task.status.state is TaskState.RUNNING and placed is not None:
                value = placed.spec.labels.get(label, "")
                values[value] = values.get(value, 0) + 1
        counts = [values[v] for v in sorted(values)]
        seen = ", ".join(f"{v or '(no label)'}: {values[v]}" for v in sorted(values))
        if len([v for v in values if v]) < 2:
            return False, f"no two nodes differ in label {label} ({seen})"
        return max(counts) - min(counts) <= 1, seen

    return _of_service(name, judge)


def _task_count(name: str, wanted: int) -> Probe:
    def judge(_service: Service, tasks: list[Task], _view: ClusterView) -> tuple[bool, str]:
        return len(tasks) == wanted, f"{len(tasks)} tasks"

    return _of_service(name, judge)


def _update(name: str, state: UpdateState) -> Probe:
    def judge(service: Service, _tasks: list[Task], _view: ClusterView) -> tuple[bool, str]:
        status = service.update_status
        seen = status.state if status is not None else None
        return seen is state, f"update {seen.value if seen else 'not started'}"

    return _of_service(name, judge)


def _leader(host: str, negate: bool) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        name = view.leader()
        holds = (name != host) if negate else (name == host)
        return holds, f"leader {name or 'none'}"

    return probe


def _node_of(view: ClusterView, host: str) -> Node | None:
    store = view.leader_store()
    if store is None:
        return None
    nodes = [n for n in store.tables["nodes"].values() if isinstance(n, Node)]
    return next((n for n in nodes if n.description.hostname == host), None)


def _node(host: str, state: NodeState) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        node = _node_of(view, host)
        seen = node.status.state if node is not None else None
        return seen is state, f"node {seen.value if seen else 'unknown to the leader'}"

    return probe


def _no_task_on(host: str) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        containers = view.containers_on(host)
        node = _node_of(view, host)
        store = view.leader_store()
        wanted = 0
        if node is not None and store is not None:
            wanted = sum(
                1
                for t in store.tables["tasks"].values()
                if isinstance(t, Task)
                and t.node_id == node.id
                and t.desired_state <= TaskState.RUNNING
            )
        return containers == 0 and wanted == 0, f"{wanted} tasks wanted, {containers} running"

    return probe
