"""What a scenario's expectations say, read once (a wrong one is the file's mistake)
and asked of a swarm at any instant: a simulated one or a real one, through the
:class:`~cli.scenario.view.ClusterView` both provide.

- ``service NAME running 6/6``: the REPLICAS column of ``docker service ls``;
  ``service NAME running < 2`` (or ``<=``, ``>``, ``>=``, ``==``, ``!=``): its first
  figure, the tasks running (and still meant to);
- ``services converged``: a leader answers and every service runs what it should
  (REPLICAS N/N each; none at all is converged: the swarm has settled);
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
- ``raft safety``, ``task invariants`` (throughout: the runner's own checkers);
- ``request 30 times to node-3:8080 reaches all 3 tasks of web`` (the routing mesh,
  or a host-mode port), ``request 90 times to web from client reaches all 3 tasks
  of web at least 20 times each`` (from a running task of ``client``: the embedded
  DNS, then the VIP or a task address), ``request 5 times to node-1:9000 fails``:
  requests sent one after the other at that instant; "all K tasks" are exactly the
  service's K running tasks, and every request must be answered;
- ``client resolves tasks.web to 3 addresses`` (what a running task of ``client``
  is answered by the embedded DNS);
- ``root CA rotated``: a forced rotation (``swarm ca --rotate``: the spec's
  ``ForceRotate`` counts them) is over and every node reports a certificate from the
  cluster's root, which it alone trusts (what ``docker swarm ca --rotate`` waits
  for); ``root CA rotation in progress``: one is under way;
- ``secret db_pw held by 2 nodes``, ``secret db_pw held by worker-1,worker-2``,
  ``config app.conf held by no node``: the hosts whose agent holds it now (a secret
  reaches only the nodes running a task that uses it).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from cli.output.ca_progress import rotation_progress
from cli.output.views import desired_count, replicas, running_count
from cli.scenario.quantities import Quantity
from cli.scenario.view import ClusterView
from core.errors import ShoalError
from core.model.cluster import Cluster
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
    probe: Probe | None  # None: checked by the runner's own checkers (or a measure)
    after: float = 0.0  # for "no task on X after T"
    host: str = ""  # the host it names, if any (the scenario must have it)
    quantity: Quantity | None = None  # a ``measure:`` expectation's, judged off the looks

    @property
    def checker(self) -> bool:
        """One of :data:`CHECKERS`: the runner's checkers judge it, not a probe."""
        return self.probe is None and self.quantity is None


CHECKERS = ("raft safety", "task invariants")


def read(text: str) -> Condition:
    words = text.split()
    if text in CHECKERS:
        return Condition(text, None)
    if match := re.fullmatch(r"service (\S+) running (\d+/\d+.*)", text):
        return Condition(text, _replicas(match.group(1), match.group(2)))
    if match := re.fullmatch(r"service (\S+) running ([<>=!]+)\s*(\S+)", text):
        return Condition(text, _running(match.group(1), match.group(2), match.group(3)))
    if text == "services converged":
        return Condition(text, _converged)
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
    if match := re.fullmatch(REQUEST, text):
        return _request_condition(text, match)
    if match := re.fullmatch(r"(\S+) resolves (\S+) to (\d+) address(?:es)?", text):
        return Condition(text, _resolves(match.group(1), match.group(2), int(match.group(3))))
    if match := re.fullmatch(r"(secret|config) (\S+) held by (.+)", text):
        return Condition(text, _held(match.group(1), match.group(2), match.group(3)))
    if text in ("root CA rotated", "root CA rotation in progress"):
        return Condition(text, _root_rotation(text == "root CA rotated"))
    if match := re.fullmatch(r"no task on (\S+) after (\S+)", text):
        try:
            after = parse_duration(match.group(2)) / 1e9
        except ShoalError as error:
            raise BadCondition(str(error)) from None
        return Condition(text, _no_task_on(match.group(1)), after=after, host=match.group(1))
    known = (
        "service X running N/M, service X running OP N, services converged, "
        "service X has N tasks, service X spread over node.labels.L, "
        "update X STATE, "
        "leader is [not] X, no leader, node X STATE, "
        "request N times to HOST:PORT|NAME from SERVICE reaches all K tasks of X [at least M "
        "times each] | fails, SERVICE resolves NAME to N addresses, "
        "secret|config NAME held by N nodes | HOST[,HOST...] | no node, "
    )
    raise BadCondition(
        f"cannot read {' '.join(words)!r}: expected one of {known}no task on X after T, "
        f"{', '.join(CHECKERS)}"
    )


REQUEST = (
    r"request (\d+) times? to (\S+?)(?::(\d+))?(?: from (\S+))? "
    r"(?:reaches all (\d+) tasks? of (\S+)(?: at least (\d+) times? each)?|(fails))"
)


def _request_condition(text: str, match: re.Match[str]) -> Condition:
    count, target, port, client = (
        int(match.group(1)),
        match.group(2),
        match.group(3),
        match.group(4),
    )
    if not 1 <= count <= 10_000:
        raise BadCondition(f"a request count is 1 to 10000, not {count}")
    if client is None and port is None:
        raise BadCondition(
            f"request to {target!r}: say a host's port (HOST:PORT) or a client (NAME from SERVICE)"
        )
    host = "" if client else target
    port_number = int(port) if port else 0
    if client is None and not 1 <= port_number <= 65535:
        raise BadCondition(f"a port is 1 to 65535, not {port_number}")
    if match.group(8):
        return Condition(text, _requests_fail(target, port_number, client or "", count), host=host)
    tasks, service, least = int(match.group(5)), match.group(6), int(match.group(7) or 0)
    if least * tasks > count:
        raise BadCondition(f"{count} requests cannot reach {tasks} tasks {least} times each")
    probe = _requests_reach(target, port_number, client or "", count, service, tasks, least)
    return Condition(text, probe, host=host)


def _running_ids(view: ClusterView, name: str) -> set[str]:
    _, tasks = _service(view, name)
    return {
        t.id
        for t in tasks
        if t.status.state is TaskState.RUNNING and t.desired_state <= TaskState.RUNNING
    }


def _tally(answers: list[str], view: ClusterView) -> str:
    """``3 answered of 4: web.1 x2, web.2 x1``, task ids shown by service and slot."""
    store = view.leader_store()
    tasks = store.tables["tasks"] if store is not None else {}
    services = store.tables["services"] if store is not None else {}
    counts: dict[str, int] = {}
    for task_id in answers:
        if not task_id:
            continue
        task = tasks.get(task_id)
        name = task_id[:12]
        if isinstance(task, Task):
            service = services.get(task.service_id)
            base = service.spec.name if isinstance(service, Service) else task.service_id
            name = f"{base}.{task.slot or task.node_id[:12]}"
        counts[name] = counts.get(name, 0) + 1
    answered = sum(counts.values())
    shown = ", ".join(f"{n} x{counts[n]}" for n in sorted(counts))
    return f"{answered} answered of {len(answers)}" + (f": {shown}" if shown else "")


def _requests_reach(
    target: str, port: int, client: str, count: int, service: str, tasks: int, least: int
) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        answers = view.request(target, port, client, count)
        running = _running_ids(view, service)
        reached = {a for a in answers if a}
        each = min((answers.count(t) for t in running), default=0)
        holds = all(answers) and len(running) == tasks and reached == running and each >= least
        return holds, f"{_tally(answers, view)} ({len(running)} tasks of {service} running)"

    return probe


def _requests_fail(target: str, port: int, client: str, count: int) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        answers = view.request(target, port, client, count)
        return not any(answers), _tally(answers, view)

    return probe


def _resolves(client: str, name: str, wanted: int) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        found = view.resolve(client, name)
        if found is None:
            return False, f"{name} does not resolve from {client}"
        noun = "address" if len(found) == 1 else "addresses"
        return len(found) == wanted, f"{len(found)} {noun}: {', '.join(found)}"

    return probe


def _held(kind: str, name: str, by: str) -> Probe:
    """Held by a number of nodes, by exactly the hosts named, or by none."""
    if match := re.fullmatch(r"(\d+) nodes?", by):
        count: int | None = int(match.group(1))
        hosts: list[str] = []
    elif by == "no node":
        count, hosts = 0, []
    else:
        count, hosts = None, sorted(h.strip() for h in by.split(",") if h.strip())
        if not hosts or any(" " in h for h in hosts):
            raise BadCondition(
                f"{kind} {name} held by: expected N nodes, HOST[,HOST...] or no node, not {by!r}"
            )

    def probe(view: ClusterView) -> tuple[bool, str]:
        found = view.holders(kind, name)
        seen = ", ".join(found) or "no node"
        return (len(found) == count if count is not None else found == hosts), f"held by {seen}"

    return probe


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


COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _running(name: str, op: str, count: str) -> Probe:
    """``service web running < 2``: REPLICAS' first figure compared."""
    if op not in COMPARISONS:
        raise BadCondition(f"{op!r} is not a comparison (one of {' '.join(COMPARISONS)})")
    if not re.fullmatch(r"[0-9]+", count):
        raise BadCondition(f"service {name} running {op}: {count!r} is not a whole number")
    compare, bound = COMPARISONS[op], int(count)

    def judge(service: Service, tasks: list[Task], _view: ClusterView) -> tuple[bool, str]:
        return compare(running_count(tasks), bound), f"running {replicas(service, tasks)}"

    return _of_service(name, judge)


def _converged(view: ClusterView) -> tuple[bool, str]:
    """Every service at REPLICAS N/N; the ones that are not, named."""
    store = view.leader_store()
    if store is None:
        return False, "no leader"
    services = sorted(
        (s for s in store.tables["services"].values() if isinstance(s, Service)),
        key=lambda s: s.spec.name,
    )
    tasks: dict[str, list[Task]] = {s.id: [] for s in services}
    for task in store.tables["tasks"].values():
        if isinstance(task, Task) and task.service_id in tasks:
            tasks[task.service_id].append(task)
    behind = [
        f"{s.spec.name} {replicas(s, tasks[s.id])}"
        for s in services
        if running_count(tasks[s.id]) != desired_count(s, tasks[s.id])
    ]
    if behind:
        return False, f"not converged: {', '.join(behind)}"
    if not services:
        return True, "no service to run"
    return True, f"{len(services)} service{'s' if len(services) != 1 else ''} converged"


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


def _root_rotation(complete: bool) -> Probe:
    def probe(view: ClusterView) -> tuple[bool, str]:
        store = view.leader_store()
        if store is None:
            return False, "no leader"
        clusters = [c for c in store.tables["clusters"].values() if isinstance(c, Cluster)]
        nodes = [n for n in store.tables["nodes"].values() if isinstance(n, Node)]
        if not clusters:
            return False, "no swarm"
        cluster = clusters[0]
        if not complete:
            return cluster.root_rotation_in_progress, (
                "rotation in progress" if cluster.root_rotation_in_progress else "no rotation"
            )
        _, done = rotation_progress(cluster, nodes)
        forced = cluster.spec.ca_config.force_rotate
        rotated = sum(1 for n in nodes if n.description.tls_info == cluster.tls_info)
        seen = f"{rotated}/{len(nodes)} nodes on the cluster's root after {forced} rotations"
        return done and forced > 0, seen

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
