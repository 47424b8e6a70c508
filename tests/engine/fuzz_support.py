"""Fuzzing the Engine API: a served simulated swarm whose state a probe must not
change unless it succeeds, the probes themselves, and what every answer must look
like (tests/engine/test_fuzz.py).

A probe names what it aims at (``Ref``: the seeded service, its task, a node...) and
the version it sends (``Version``) symbolically, resolved when it is sent: the swarm
is put back after every write that succeeds (the seeds re-made, the nodes' specs
restored), so ids and versions change between examples, and a probe shrunk or
replayed must still hit the same kind of target.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer
from yarl import URL

from core.model.node import Node
from core.model.task import Task
from real.engine.app import build_app
from real.engine.images import image_routes
from sim.cluster import ClusterWorld
from tests.engine.support import StepBackend, world

# -- valid bodies, the seeds of mutations and of the swarm's own objects -----------------------

SERVICE_SPEC: dict[str, Any] = {
    "Name": "fuzz-web",
    "Labels": {"fuzz": "yes"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "fuzz-image", "Args": ["serve"], "Env": ["A=1"]},
        "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
        "Placement": {"Constraints": ["node.role == worker"]},
    },
    "Mode": {"Replicated": {"Replicas": 1}},
    "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Order": "stop-first"},
    "EndpointSpec": {"Mode": "vip"},
}
NODE_SPEC: dict[str, Any] = {"Labels": {}, "Role": "worker", "Availability": "active"}
SECRET_SPEC: dict[str, Any] = {"Name": "fuzz-secret", "Labels": {}, "Data": "aGVsbG8="}
CONFIG_SPEC: dict[str, Any] = {"Name": "fuzz-config", "Labels": {}, "Data": "aGVsbG8="}
NETWORK_CREATE: dict[str, Any] = {"Name": "fuzz-net", "Driver": "overlay", "Attachable": True}
IMAGE = "busybox:latest"
JOIN_REQUEST: dict[str, Any] = {
    "ListenAddr": "0.0.0.0:2377",
    "AdvertiseAddr": "10.0.0.9",
    "RemoteAddrs": ["10.0.0.1:2377"],
    "JoinToken": "SWMTKN-1-x-y",
}
UNLOCK_REQUEST: dict[str, Any] = {"UnlockKey": "SWMKEY-1-abc"}

CLUSTER_SPEC: dict[str, Any] = {
    "Name": "default",
    "Labels": {},
    "Orchestration": {"TaskHistoryRetentionLimit": 5},
    "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500},
    "Dispatcher": {"HeartbeatPeriod": 5000000000},
    "CAConfig": {"NodeCertExpiry": 7776000000000000},
    "TaskDefaults": {},
    "EncryptionConfig": {"AutoLockManagers": False},
}
INIT_REQUEST: dict[str, Any] = {
    "ListenAddr": "0.0.0.0:2377",
    "AdvertiseAddr": "10.0.0.1",
    "DataPathPort": 4789,
    "DefaultAddrPool": ["10.0.0.0/8"],
    "SubnetSize": 24,
    "ForceNewCluster": False,
    "Spec": CLUSTER_SPEC,
}
#: A valid body of each route that reads one (by its unversioned template).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/services/create": SERVICE_SPEC,
    "/services/{id}/update": SERVICE_SPEC,
    "/nodes/{id}/update": NODE_SPEC,
    "/swarm/init": INIT_REQUEST,
    "/swarm/join": JOIN_REQUEST,
    "/swarm/update": CLUSTER_SPEC,
    "/swarm/unlock": UNLOCK_REQUEST,
    "/secrets/create": SECRET_SPEC,
    "/secrets/{id}/update": SECRET_SPEC,
    "/configs/create": CONFIG_SPEC,
    "/configs/{id}/update": CONFIG_SPEC,
    "/networks/create": NETWORK_CREATE,
}

#: The seeds the swarm keeps, by kind: the route that makes one and its body.
SEEDS: dict[str, tuple[str, dict[str, Any]]] = {
    "service": ("/services/create", SERVICE_SPEC),
    "secret": ("/secrets/create", SECRET_SPEC),
    "config": ("/configs/create", CONFIG_SPEC),
    "network": ("/networks/create", NETWORK_CREATE),
}
TABLE_OF = {"service": "services", "secret": "secrets", "config": "configs", "network": "networks"}

#: Routes whose ``{id}``/``{name}`` is an object of this kind (by the path's first part).
KIND_OF_PATH = {
    "services": "service",
    "tasks": "task",
    "nodes": "node",
    "secrets": "secret",
    "configs": "config",
    "networks": "network",
    "images": "image",
}


# -- probes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """One of the swarm's objects, by ``form``: ``id``, ``name`` or ``prefix`` of its ID.
    ``kind`` is a path's kind, or ``leader``/``worker`` for a node."""

    kind: str
    form: str = "id"


@dataclass(frozen=True)
class Version:
    """A ``version`` query value: the target's ``current`` one, or a ``stale`` one."""

    form: str = "current"


PathPart = str | Ref  # a str part is sent as it is (already percent-encoded or not)
QueryValue = str | Version


@dataclass(frozen=True)
class Probe:
    method: str
    path: tuple[PathPart, ...]  # the parts after the leading "/"
    query: tuple[tuple[str, QueryValue], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def template(self) -> str:
        return "/" + "/".join(p if isinstance(p, str) else "{" + p.kind + "}" for p in self.path)


@dataclass(frozen=True)
class Sent:
    """A probe as it went out, for the report of a failure."""

    method: str
    target: str
    body: bytes | None
    headers: Mapping[str, str]

    def __str__(self) -> str:
        shown = self.body if self.body is None or len(self.body) < 600 else self.body[:600] + b"..."
        return f"{self.method} {self.target} headers={dict(self.headers)} body={shown!r}"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str | None
    body: bytes

    def __str__(self) -> str:
        return f"{self.status} ({self.content_type}) {self.body[:600]!r}"


# -- what an answer must be --------------------------------------------------------------------

#: The 5xx answers dockerd itself gives (its plain errors and the gRPC codes it maps to
#: 500/501/503), by status: a message one of these matches is legitimate.
DOCKERD_5XX: dict[int, tuple[str, ...]] = {
    500: (
        r"rpc error: code = Unknown desc = update out of sequence.*",
        r"Invalid desired-state filter: '.*'",
        r"Invalid role filter: '.*'",
        r"Invalid membership filter: '.*'",
        r"invalid filter: 'type'='.*'",
        r"Bad parameters: you must choose at least one stream",
        r'tail value must be a positive integer or "all"',
        r"negative tail values not supported",
        r"could not parse since timestamp: .*",
        r"unrecognized rollback option .*",
        r"unsupported registryAuthFrom value",
        r"service does not have a previous spec",
        r"network .* not found",
    ),
    501: (r"rpc error: code = Unimplemented desc = .*",),
    503: (
        r"This node is .*",
        r"Swarm is encrypted and needs to be unlocked.*",
        r"You are attempting to leave the swarm.*",
    ),
}
FORBIDDEN_WORDS = ("traceback", "internal error")


def answer_problems(method: str, answer: Answer) -> list[str]:
    """What is wrong with an answer, whatever was asked (none for a good one)."""
    problems = []
    text = answer.body.decode("utf-8", "replace")
    lowered = text.lower()
    problems += [f"the body says {word!r}" for word in FORBIDDEN_WORDS if word in lowered]
    if answer.status < 400 or method == "HEAD":
        return problems
    message = _error_message(answer, problems)
    if answer.status >= 500:
        allowed = DOCKERD_5XX.get(answer.status, ())
        if message is None or not any(re.fullmatch(p, message, re.S) for p in allowed):
            problems.append(f"a {answer.status} that dockerd does not answer")
    return problems


def _error_message(answer: Answer, problems: list[str]) -> str | None:
    """Docker's error body, exactly ``{"message": "<non-empty>"}`` as application/json."""
    if answer.content_type != "application/json":
        problems.append(f"Content-Type {answer.content_type!r}, not exactly application/json")
    try:
        body = json.loads(answer.body)
    except ValueError:
        problems.append("the error body is not JSON")
        return None
    if not isinstance(body, dict) or set(body) != {"message"}:
        problems.append('the error body is not {"message": ...}')
        return None
    message = body["message"]
    if not isinstance(message, str) or not message:
        problems.append("the error message is not a non-empty string")
        return None
    return message


# -- the store -------------------------------------------------------------------------------

Snapshot = dict[str, dict[str, tuple[int, str]]]


def snapshot(swarm: ClusterWorld) -> Snapshot:
    """The leader's tables: every object's version and JSON."""
    store = swarm.leader_store()
    assert store is not None, "the swarm has no leader"
    return {
        table: {
            oid: (obj.version.index, json.dumps(obj.to_json(), sort_keys=True))
            for oid, obj in sorted(objects.items())
        }
        for table, objects in sorted(store.tables.items())
    }


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """The objects added, removed or changed between two snapshots."""
    found = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        for oid in sorted(set(old) | set(new)):
            if oid not in old:
                found.append(f"{table}/{oid} added")
            elif oid not in new:
                found.append(f"{table}/{oid} removed")
            elif old[oid] != new[oid]:
                found.append(f"{table}/{oid} changed (version {old[oid][0]} -> {new[oid][0]})")
    return found


# -- the harness -----------------------------------------------------------------------------


@dataclass
class Outcome:
    sent: Sent
    answer: Answer
    changed: list[str] = field(default_factory=list)  # the store's changes, when refused

    def problems(self) -> list[str]:
        found = answer_problems(self.sent.method, self.answer)
        if self.changed and self.answer.status >= 400:
            found.append(f"refused, yet the store changed: {self.changed}")
        return found

    def check(self) -> None:
        found = self.problems()
        assert not found, f"{'; '.join(found)}\n  sent:   {self.sent}\n  answer: {self.answer}"


class Harness:
    """A formed simulated swarm (one manager, one worker) with the seeds, its Engine
    API served in-process on a loop of the harness's own."""

    def __init__(self, seed: int = 7) -> None:
        self.world = world(managers=1, workers=1, seed=seed)
        leader = self.world.leader()
        assert leader is not None
        self.leader = leader.name
        self.pulled: set[str] = set()
        self.app = build_app(StepBackend(self.world, leader.name), [image_routes(self.pulled)])
        self.loop = asyncio.new_event_loop()
        self.server = TestServer(self.app)
        self.loop.run_until_complete(self.server.start_server())
        self.session = self.loop.run_until_complete(self._session())
        self.root = str(self.server.make_url("/")).rstrip("/")
        self.node_specs = {n.id: n.spec for n in self._table("nodes", Node)}
        self.seeds: dict[str, str] = {}  # kind -> id
        self.seed_versions: dict[str, int] = {}
        self._send_raw("POST", "/images/create?" + urlencode({"fromImage": IMAGE}), None, {})
        self.restore()

    async def _session(self) -> ClientSession:
        return ClientSession(timeout=ClientTimeout(total=120))

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(self.server.close())
        self.loop.close()

    # -- probing ---------------------------------------------------------------------------

    def probe(self, probe: Probe) -> Outcome:
        """Send the probe; after a refusal, what it changed in the store (nothing, it
        must be); after a success that wrote, the swarm put back as it was."""
        sent = self.resolve(probe)
        before = snapshot(self.world)
        answer = self._send_raw(sent.method, sent.target, sent.body, sent.headers)
        outcome = Outcome(sent, answer)
        if answer.status >= 400:
            outcome.changed = changes(before, snapshot(self.world))
        if outcome.changed or (answer.status < 400 and sent.method not in ("GET", "HEAD")):
            self.restore()
        return outcome

    def resolve(self, probe: Probe) -> Sent:
        parts = [
            p if isinstance(p, str) else quote(self.ref(p, probe.method), safe="")
            for p in probe.path
        ]
        query = [(k, v if isinstance(v, str) else self.version(v, probe)) for k, v in probe.query]
        if probe.template.endswith("/swarm/leave"):
            query = [(k, v) for k, v in query if k != "force"]  # a forced leave ends the swarm
        target = "/" + "/".join(parts)
        if query:
            target += "?" + urlencode(query, errors="surrogatepass")
        headers = dict(probe.headers)
        if probe.content_type is not None:
            headers["Content-Type"] = probe.content_type
        return Sent(probe.method, target, probe.body, headers)

    def ref(self, ref: Ref, method: str) -> str:
        kind = ref.kind
        if kind == "node" or (kind == "worker" and method == "DELETE"):
            kind = "leader"  # a forced remove of the worker would shrink the swarm
        ident, name = self._identity(kind)
        if ref.form == "name":
            return name
        if ref.form == "prefix":
            return ident[:3]
        return ident

    def _identity(self, kind: str) -> tuple[str, str]:
        if kind in ("leader", "worker"):
            role = "manager" if kind == "leader" else "worker"
            node = next(n for n in self._table("nodes", Node) if str(n.spec.role) == role)
            return node.id, node.description.hostname
        if kind == "task":
            service = self.seeds["service"]
            task = next(t for t in self._table("tasks", Task) if t.service_id == service)
            return task.id, f"{SERVICE_SPEC['Name']}.{task.slot}.{task.id}"
        if kind == "image":
            return IMAGE, IMAGE.split(":")[0]
        name = str(SEEDS[kind][1]["Name"]) if kind in SEEDS else kind
        return self.seeds.get(kind, name), name

    def version(self, wanted: Version, probe: Probe) -> str:
        """The target's current version, or a stale one. ``/swarm/update`` names no
        object, so it always gets a stale one: a random ClusterSpec that took could
        slow the swarm down for every later example (a nanosecond heartbeat), and
        nothing puts it back."""
        target = probe.path[1] if len(probe.path) > 1 else None
        if wanted.form != "current" or not isinstance(target, Ref):
            return "1"
        ident = self._identity("leader" if target.kind == "node" else target.kind)[0]
        for table in ("services", "nodes", "secrets", "configs", "networks"):
            obj = self._store_tables()[table].get(ident)
            if obj is not None:
                return str(obj.version.index)
        return "1"

    def _send_raw(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        async def send() -> Answer:
            url = URL(self.root + target, encoded=True)
            async with self.session.request(method, url, data=body, headers=dict(headers)) as r:
                return Answer(r.status, r.headers.get("Content-Type"), await r.read())

        return self.loop.run_until_complete(send())

    # -- putting the swarm back ------------------------------------------------------------

    def restore(self) -> None:
        """Back to the seeds alone, unchanged, and the nodes' first specs; then let
        the swarm settle, so a later refusal's snapshot sees nothing moving. (A
        forced ``swarm init`` restarts the manager: its leader comes back first.)"""
        back = self.world.run_until(lambda: self.world.leader_store() is not None, 300)
        assert back, "the swarm has no leader"
        tables = self._store_tables()
        for kind, table in TABLE_OF.items():
            for oid in sorted(tables[table]):
                if self.seeds.get(kind) != oid or self.seed_versions.get(kind) != (
                    tables[table][oid].version.index
                ):
                    _expect(self._send_raw("DELETE", f"/{table}/{oid}", None, {}), 200, 204)
        self.settle()
        for kind, (path, spec) in SEEDS.items():
            if self.seeds.get(kind) not in self._store_tables()[TABLE_OF[kind]]:
                answer = self._send_raw("POST", path, json.dumps(spec).encode(), _JSON)
                _expect(answer, 201)
                body = json.loads(answer.body)
                self.seeds[kind] = str(body.get("ID") or body.get("Id"))
        for node in self._table("nodes", Node):
            if node.spec != self.node_specs[node.id]:
                reply = self.world.call(
                    self.leader,
                    "NodeUpdate",
                    node=node.id,
                    version=node.version.index,
                    spec=self.node_specs[node.id],
                )
                assert reply.ok, reply
        self.settle()
        tables = self._store_tables()
        self.seed_versions = {
            k: tables[TABLE_OF[k]][i].version.index for k, i in self.seeds.items()
        }

    def settle(self, quiet: int = 3, step: float = 2.0, limit: float = 300.0) -> None:
        """Run the world until the store stays put for ``quiet`` steps."""
        deadline, still = self.world.env.now + limit, 0
        while still < quiet:
            assert self.world.env.now < deadline, "the swarm does not settle"
            before = snapshot(self.world)
            self.world.run_for(step)
            still = still + 1 if snapshot(self.world) == before else 0

    def _store_tables(self) -> Mapping[str, Mapping[str, Any]]:
        store = self.world.leader_store()
        assert store is not None
        return store.tables

    def _table(self, table: str, cls: type) -> Iterator[Any]:
        for oid in sorted(self._store_tables()[table]):
            obj = self._store_tables()[table][oid]
            if isinstance(obj, cls):
                yield obj


_JSON = {"Content-Type": "application/json"}


def _expect(answer: Answer, *statuses: int) -> None:
    assert answer.status in statuses, f"restoring the swarm: {answer}"
