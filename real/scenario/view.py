"""A look at a real cluster over its daemons' control sockets: every manager's
``Info`` (does it lead, its term, commit and last index), then the leader's
services, tasks and nodes, as a :class:`~cli.scenario.view.ClusterView`.

A manager that does not answer within :data:`ASK_SECONDS` (paused, crashed, cut
off from nothing but slow) is skipped for this look; its connection is dropped,
since a late reply would answer the next request. When several managers say they
lead (an isolated old leader that has not stepped down yet), the one of the highest
term leads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cli.scenario.view import first_task
from core.manager.requests import ClientReply
from core.model.cluster import Cluster
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task
from core.store import MemoryStore
from real.control import INFO, ControlClient, ControlError
from real.scenario.carrier import Carrier

#: Seconds a look waits for one daemon's answer.
ASK_SECONDS = 2.0


@dataclass(frozen=True)
class Info:
    """One manager's ``Info`` at a look."""

    host: str
    leader: bool
    term: int
    commit_index: int
    last_index: int


@dataclass
class RealView:
    """A look's :class:`~cli.scenario.view.ClusterView`."""

    leading: str = ""
    store: MemoryStore | None = None
    infos: dict[str, Info] = field(default_factory=dict)  # the managers that answered
    counted: Callable[[str], int | None] = lambda _host: None  # containers, when seen
    #: The carrier's traffic (see ClusterView.request and .resolve); without it no
    #: request is answered and no name resolves, so traffic expectations fail.
    send: Callable[[str, int, str, int], list[str]] | None = None
    lookup: Callable[[str, str], tuple[str, ...] | None] | None = None
    #: The hosts to ask what their agents hold (see ClusterView.holders).
    held: Callable[[str, str], list[str]] = lambda _kind, _name: []

    def leader(self) -> str:
        return self.leading

    def leader_store(self) -> MemoryStore | None:
        return self.store

    def request(self, target: str, port: int, client: str, count: int) -> list[str]:
        return self.send(target, port, client, count) if self.send else [""] * count

    def resolve(self, client: str, name: str) -> tuple[str, ...] | None:
        return self.lookup(client, name) if self.lookup else None

    def holders(self, kind: str, name: str) -> list[str]:
        return self.held(kind, name)

    def containers_on(self, host: str) -> int:
        """What the carrier sees running there; else the tasks the leader has running
        on that host's node (its agent's report)."""
        seen = self.counted(host)
        if seen is not None:
            return seen
        if self.store is None:
            return 0
        nodes = [n for n in self.store.tables["nodes"].values() if isinstance(n, Node)]
        ids = {n.id for n in nodes if n.description.hostname == host}
        return sum(
            1
            for t in self.store.tables["tasks"].values()
            if isinstance(t, Task) and t.node_id in ids and t.status.state.name == "RUNNING"
        )


class Connections:
    """One control connection per host, made when first needed and dropped on error;
    each request waits at most ``timeout`` seconds for its reply."""

    def __init__(self, sockets: Callable[[str], str], timeout: float = ASK_SECONDS) -> None:
        self.sockets, self.timeout = sockets, timeout
        self.open: dict[str, ControlClient] = {}

    def call(self, host: str, method: str, params: dict[str, Any]) -> ClientReply:
        """The host's reply; raises ControlError when it does not answer in time."""
        client = self.open.pop(host, None)
        try:
            if client is None:
                client = ControlClient(self.sockets(host), self.timeout)
            reply = client.call(method, params)
        except (ControlError, OSError) as error:
            if client is not None:
                client.close()
            raise ControlError(f"{host} did not answer {method}: {error}") from None
        self.open[host] = client
        return reply

    def close(self) -> None:
        for client in self.open.values():
            client.close()
        self.open.clear()


def look(
    connections: Connections, managers: list[str], counted: Callable[[str], int | None]
) -> RealView:
    """Ask each of ``managers`` for its Info, then the leader for its state."""
    view = RealView(counted=counted)
    for host in managers:
        try:
            reply = connections.call(host, INFO, {})
        except ControlError:
            continue
        value = reply.value if reply.ok and isinstance(reply.value, dict) else {}
        if value.get("manager"):
            view.infos[host] = Info(
                host,
                bool(value.get("leader")),
                int(value.get("term", 0)),
                int(value.get("commit_index", 0)),
                int(value.get("last_index", 0)),
            )
    leading = sorted((i for i in view.infos.values() if i.leader), key=lambda i: (-i.term, i.host))
    if leading:
        store = _state(connections, leading[0].host)
        if store is not None:
            view.leading, view.store = leading[0].host, store
    return view


def holders(connections: Connections, hosts: list[str]) -> Callable[[str, str], list[str]]:
    """Asks each of ``hosts`` (those up) for its Info when an expectation needs it:
    the ones whose agent holds the named secret or config (one that does not answer
    holds nothing this look)."""

    def held(kind: str, name: str) -> list[str]:
        found = []
        for host in sorted(hosts):
            try:
                reply = connections.call(host, INFO, {})
            except ControlError:
                continue
            value = reply.value if reply.ok and isinstance(reply.value, dict) else {}
            if name in (value.get("held") or {}).get(kind, ()):
                found.append(host)
        return found

    return held


def _state(connections: Connections, host: str) -> MemoryStore | None:
    """The leader's services, tasks, nodes and cluster object (``swarm inspect``'s:
    the root rotation's progress) as a store (None if it stopped answering or
    leading midway)."""
    store = MemoryStore()
    for method, table, kind in (
        ("ServiceList", "services", Service),
        ("TaskList", "tasks", Task),
        ("NodeList", "nodes", Node),
        ("SwarmInspect", "clusters", Cluster),
    ):
        try:
            reply = connections.call(host, method, {})
        except ControlError:
            return None
        if not reply.ok:
            return None
        found = reply.value if isinstance(reply.value, (list, tuple)) else (reply.value,)
        store.tables[table] = {v.id: v for v in found if isinstance(v, kind)}
    return store


def with_traffic(view: RealView, carrier: Carrier) -> RealView:
    """The view, sending its traffic through ``carrier``: answers are turned back
    into task ids (a sandbox's hostname is its task id's first 12 characters)."""
    tasks = _task_table(view)

    def task_of(body: str) -> str:
        return next((t for t in tasks if len(body) == 12 and t.startswith(body)), "")

    def send(target: str, port: int, client: str, count: int) -> list[str]:
        if not client:
            bodies = carrier.request(target, "", "", port, count)
        else:
            found = _client(view, client)
            if found is None:
                return [""] * count
            host, task_id = found
            bodies = carrier.request(host, task_id, target, port or DEFAULT_PORT, count)
        return [task_of(body) for body in bodies]

    def lookup(client: str, name: str) -> tuple[str, ...] | None:
        found = _client(view, client)
        return None if found is None else carrier.resolve(found[0], found[1], name)

    view.send, view.lookup = send, lookup
    return view


#: The port a request to a service's name goes to when the expectation names none.
DEFAULT_PORT = 80


def _task_table(view: RealView) -> list[str]:
    store = view.store
    return sorted(store.tables["tasks"]) if store is not None else []


def _client(view: RealView, service_name: str) -> tuple[str, str] | None:
    """The host and id of the service's first running task (by slot, then id)."""
    store = view.store
    nodes = (
        {n.id: n for n in store.tables["nodes"].values() if isinstance(n, Node)} if store else {}
    )
    first = first_task(
        store, service_name, lambda t: t.status.state.name == "RUNNING" and t.node_id in nodes
    )
    return None if first is None else (nodes[first.node_id].description.hostname, first.id)
