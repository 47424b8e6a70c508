"""The control API on the leader: services, tasks and nodes, with Docker's
validation and Docker's errors (SwarmKit's ``manager/controlapi``).

A handler either answers from the committed store at once (:class:`Answer`) or
returns a :class:`Write`: a job for the leader's write queue and the value to reply
with once that job's transaction is committed and applied. Raising
:class:`~core.manager.requests.ApiError` (or any expected error) answers with it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.allocator.ports import PortConflict
from core.ca import tokens as join_tokens
from core.ca.errors import CAError
from core.ca.issue import check_cert_expiry
from core.manager.autolock import next_unlock_key
from core.manager.ca_api import ca_update
from core.manager.references import check_existence, check_references
from core.manager.requests import ApiError, DaemonError
from core.manager.swarm_spec import merged
from core.model import replace
from core.model.cluster import Cluster, ClusterSpec, EncryptionConfig
from core.model.common import StoredObject, Version
from core.model.defaults import effective_job
from core.model.enums import (
    NodeAvailability,
    NodeRole,
    NodeState,
    PortProtocol,
    PublishMode,
    Reachability,
    UpdateState,
)
from core.model.ids import new_id
from core.model.node import Node, NodeSpec
from core.model.service import (
    JobStatus,
    NetworkAttachmentConfig,
    PortConfig,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    UpdateStatus,
)
from core.model.task import Task
from core.model.timestamp import Timestamp
from core.model.validate import validate_cluster_spec, validate_node_spec, validate_service_spec
from core.model.wire import Labels, WireModel
from core.store import MemoryStore, NameConflict, WriteTx
from core.store.store import SequenceConflict


@dataclass(frozen=True, slots=True)
class Answer:
    value: Any


@dataclass(slots=True)
class Write:
    build: Callable[[WriteTx], None]
    value: Callable[[], Any] = lambda: None
    # membership work to do once the write has committed (promote / demote)
    then: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Gather:
    """A read the leader answers from the agents: the output of these tasks, by node."""

    tasks_by_node: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class ApiContext:
    """What handlers may read: the committed store, the Raft membership and time."""

    store: MemoryStore
    rng: random.Random
    wall: float
    voters: frozenset[int] = frozenset()
    reachable: frozenset[int] = frozenset()  # voters this leader hears from, itself included
    leader: int = 0  # the Raft id of the leader answering (this manager)
    demote: Callable[[Node], None] | None = None
    entropy: Callable[[int], bytes] | None = None  # the driver's, for new secrets


Handler = Callable[[ApiContext, Mapping[str, Any]], Answer | Write | Gather]


# -- lookups -------------------------------------------------------------------------------


def _find(store: MemoryStore, table: str, ref: str, kind: str) -> StoredObject:
    """By full id, then by name (hostname for nodes), then by unique id prefix."""
    objects = store.tables[table]
    if ref in objects:
        return objects[ref]
    named = [o for _, o in sorted(objects.items()) if _name_of(o) == ref]
    if len(named) == 1:
        return named[0]
    prefixed = [o for i, o in sorted(objects.items()) if ref and i.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1 or len(named) > 1:
        raise DaemonError(
            "InvalidArgument", f"{kind} {ref} is ambiguous ({len(prefixed)} matches found)"
        )
    raise DaemonError("NotFound", f"{kind} {ref} not found")


def _name_of(obj: StoredObject) -> str:
    if isinstance(obj, Node):
        return obj.description.hostname
    spec = getattr(obj, "spec", None)
    return getattr(spec, "name", "") or ""


def find_service(store: MemoryStore, ref: str) -> Service:
    found = _find(store, "services", ref, "service")
    assert isinstance(found, Service)
    return found


def find_node(store: MemoryStore, ref: str) -> Node:
    found = _find(store, "nodes", ref, "node")
    assert isinstance(found, Node)
    return found


def _unchanged_spec(tx: WriteTx, table: str, read: Node | Service) -> Any:
    """The object as the write finds it, refused as out of sequence if its spec is
    no longer the one the request was checked against (another user's update)."""
    now = tx.get(table, read.id)
    if now is None or getattr(now, "spec", None) != read.spec:
        raise SequenceConflict(table, read.id)
    return now


def _check_version(obj: StoredObject, params: Mapping[str, Any]) -> None:
    version = params.get("version")
    if version is not None and version != obj.version.index:
        raise ApiError("Unknown", "update out of sequence")  # SwarmKit's words, exactly


# -- services --------------------------------------------------------------------------------


def _networks_by_id(store: MemoryStore, spec: ServiceSpec) -> ServiceSpec:
    """The spec with every network it attaches to named by ID, as dockerd writes it
    (a client may name them); a network that does not exist is refused."""

    def resolved(attachments: tuple[NetworkAttachmentConfig, ...]) -> tuple[Any, ...]:
        return tuple(
            replace(a, target=_find(store, "networks", a.target, "network").id) for a in attachments
        )

    template = spec.task_template
    if not template.networks and not spec.networks:
        return spec
    return replace(
        spec,
        task_template=replace(template, networks=resolved(template.networks)),
        networks=resolved(spec.networks),
    )


def service_create(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    spec = params["spec"]
    if not isinstance(spec, ServiceSpec):
        raise ApiError("InvalidArgument", "a service spec is required")
    validate_service_spec(spec)
    check_references(spec)
    spec = _networks_by_id(ctx.store, _job_counts(spec))
    service_id = new_id(ctx.rng)
    job = JobStatus(job_iteration=Version(index=0), last_execution=Timestamp.from_seconds(ctx.wall))
    service = Service(
        id=service_id,
        spec=spec,
        spec_version=Version(index=1),
        job_status=job if spec.mode.is_job else None,
    )

    def build(tx: WriteTx) -> None:
        _check_port_conflicts(tx, spec, service_id)
        check_existence(tx, spec)
        try:
            tx.create(service)
        except NameConflict:
            raise ApiError(
                "AlreadyExists",
                f"name conflicts with an existing object: service {spec.name} already exists",
            ) from None

    return Write(build, lambda: service_id)


def _job_counts(spec: ServiceSpec) -> ServiceSpec:
    """A replicated job's unset counts filled as dockerd fills them before SwarmKit
    sees them (1 at a time, as many in all), whichever client sent the spec."""
    job = spec.mode.replicated_job
    if job is None:
        return spec
    return replace(spec, mode=ServiceMode(replicated_job=effective_job(job)))


def _ingress(ports: Iterable[PortConfig]) -> set[tuple[str, int]]:
    """The (protocol, published port) pairs of the ingress-mode ports."""
    return {
        (str(p.protocol or PortProtocol.TCP), p.published_port)
        for p in ports
        if p.published_port and (p.publish_mode or PublishMode.INGRESS) is PublishMode.INGRESS
    }


def _check_port_conflicts(tx: WriteTx, spec: ServiceSpec, service_id: str) -> None:
    """SwarmKit's ``checkPortConflicts``: an ingress port another service publishes
    (asked for in its spec, or given to it by the allocator) is refused."""
    wanted = _ingress(spec.endpoint_spec.ports if spec.endpoint_spec else ())
    if not wanted:
        return
    for other in tx.find("services"):
        if not isinstance(other, Service) or other.id == service_id:
            continue
        asked = other.spec.endpoint_spec.ports if other.spec.endpoint_spec else ()
        taken = _ingress(asked) | _ingress(other.endpoint.ports)
        for _, port in sorted(wanted & taken):
            raise ApiError("InvalidArgument", str(PortConflict(port, other.spec.name, other.id)))


def service_update(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    """A new spec (``spec``) for the service ``service``: the mode cannot change; a
    changed spec keeps the old one (and its version) as PreviousSpec; a job starts a
    new run. Every update clears the update status, so a paused update resumes
    (SwarmKit's controlapi). ``rollback``: back to PreviousSpec instead."""
    current = find_service(ctx.store, params["service"])
    _check_version(current, params)
    if params.get("rollback"):
        return _service_rollback(ctx, current, params)
    spec = params["spec"]
    if not isinstance(spec, ServiceSpec):
        raise ApiError("InvalidArgument", "a service spec is required")
    if params.get("force"):  # as the CLI's --force: a new task spec, so every task is dirty
        template = spec.task_template
        spec = replace(
            spec, task_template=replace(template, force_update=template.force_update + 1)
        )
    validate_service_spec(spec)  # with the count --force raised (it may overflow)
    check_references(spec)
    spec = _networks_by_id(ctx.store, _job_counts(spec))
    if spec.mode.name != current.spec.mode.name:
        raise ApiError("Unimplemented", "service mode change is not allowed")
    if spec.name != current.spec.name:
        raise ApiError("Unimplemented", "renaming services is not supported")
    changed = spec != current.spec
    # SwarmKit's Meta.Version: it only rises, so a spec after a rollback (which moves
    # the version back) never reuses a number that tasks of another spec carry
    used = max(_index(current.spec_version), _index(current.previous_spec_version))
    version = max(current.version.index, used + 1)
    job_status = current.job_status
    if current.spec.mode.is_job and job_status is not None and changed:
        job_status = JobStatus(
            job_iteration=Version(index=job_status.job_iteration.index + 1),
            last_execution=Timestamp.from_seconds(ctx.wall),
        )
    changes = {
        "spec": spec,
        "previous_spec": current.spec if changed else current.previous_spec,
        "previous_spec_version": (
            current.spec_version if changed else current.previous_spec_version
        ),
        "spec_version": Version(index=version) if changed else current.spec_version,
        "job_status": job_status,
        "update_status": None,
    }
    return _service_write(current, changes, spec)


def _index(version: Version | None) -> int:
    return version.index if version is not None else 0


def _service_rollback(ctx: ApiContext, current: Service, params: Mapping[str, Any]) -> Write:
    """``docker service rollback``: swap Spec and PreviousSpec (with their versions),
    so the tasks that were never updated are not touched, and roll over to it."""
    spec = params.get("spec")
    if (spec is not None and spec != current.spec) or params.get("force"):
        raise ApiError("InvalidArgument", "other flags may not be combined with --rollback")
    if current.previous_spec is None:
        raise ApiError("FailedPrecondition", f"service {current.id} does not have a previous spec")
    changes = {
        "spec": current.previous_spec,
        "previous_spec": current.spec,
        "spec_version": current.previous_spec_version,
        "previous_spec_version": current.spec_version,
        "update_status": UpdateStatus(
            state=UpdateState.ROLLBACK_STARTED,
            started_at=Timestamp.from_seconds(ctx.wall),
            message="manually requested rollback",
        ),
    }
    return _service_write(current, changes, current.previous_spec)


def _service_write(current: Service, changes: dict[str, Any], spec: ServiceSpec) -> Write:
    def build(tx: WriteTx) -> None:
        _check_port_conflicts(tx, spec, current.id)
        check_existence(tx, spec)
        # onto the service as it is now: the allocator or the updater may have written
        # its endpoint or update status since
        now = _unchanged_spec(tx, "services", current)
        tx.update(replace(now, **changes))

    return Write(build, lambda: {"Warnings": None})


def service_rollback(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    return service_update(ctx, {**params, "rollback": True})


def service_scale(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    """``docker service scale``: an update of the replica count alone."""
    current = find_service(ctx.store, params["service"])
    replicas = params["replicas"]
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ApiError("InvalidArgument", f"invalid replicas value {replicas}: must be 0 or more")
    if current.spec.mode.replicated is None:
        raise ApiError(
            "InvalidArgument",
            "scale can only be used with replicated or replicated-job mode",
        )
    spec = replace(current.spec, mode=ServiceMode(replicated=ReplicatedService(replicas=replicas)))
    return service_update(ctx, {"service": current.id, "spec": spec})


def service_remove(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    current = find_service(ctx.store, params["service"])

    def build(tx: WriteTx) -> None:
        found = tx.get("services", current.id)
        if found is None:
            raise ApiError("NotFound", f"service {params['service']} not found")
        tx.delete(found)

    return Write(build)


def service_inspect(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    return Answer(find_service(ctx.store, params["service"]))


def service_list(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    services = ctx.store.tables["services"]
    return Answer(tuple(services[i] for i in sorted(services)))


def service_logs(ctx: ApiContext, params: Mapping[str, Any]) -> Gather:
    """The output of every task of the service that was placed on a node; or, as
    Docker takes a task too, of the task with that ID (or unique ID prefix)."""
    tasks = [t for t in ctx.store.tables["tasks"].values() if isinstance(t, Task) and t.node_id]
    try:
        service = find_service(ctx.store, params["service"])
        tasks = [t for t in tasks if t.service_id == service.id]
    except ApiError as error:
        if error.code != "NotFound":
            raise
        try:
            one = _find(ctx.store, "tasks", params["service"], "task")
        except ApiError:
            raise error from None
        tasks = [t for t in tasks if t.id == one.id]
    by_node: dict[str, list[str]] = {}
    for task in tasks:
        by_node.setdefault(task.node_id, []).append(task.id)
    return Gather({node: tuple(sorted(ids)) for node, ids in sorted(by_node.items())})


def task_list(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    """Tasks, optionally of one service and/or on one node (``service ps``, ``node ps``)."""
    tasks = [t for _, t in sorted(ctx.store.tables["tasks"].items()) if isinstance(t, Task)]
    if params.get("service"):
        service = find_service(ctx.store, params["service"])
        tasks = [t for t in tasks if t.service_id == service.id]
    if params.get("node"):
        node = find_node(ctx.store, params["node"])
        tasks = [t for t in tasks if t.node_id == node.id]
    return Answer(tuple(tasks))


# -- nodes -----------------------------------------------------------------------------------


def _live(ctx: ApiContext, node: Node) -> Node:
    """The node with its manager status as the Raft membership has it now, not as it
    was stored (SwarmKit's ListNodes): ``Leader`` for the member answering, and
    ``Reachable`` or ``Unreachable`` by whether this leader has heard from it within
    an election timeout. A manager that is no longer a member keeps what was stored."""
    status = node.manager_status
    if status is None or status.raft_id not in ctx.voters:
        return node
    reachable = status.raft_id in ctx.reachable
    live = replace(
        status,
        leader=status.raft_id == ctx.leader,
        reachability=Reachability.REACHABLE if reachable else Reachability.UNREACHABLE,
    )
    return node if live == status else replace(node, manager_status=live)


def node_list(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    nodes = ctx.store.tables["nodes"]
    return Answer(tuple(_live(ctx, n) for _, n in sorted(nodes.items()) if isinstance(n, Node)))


def node_inspect(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    return Answer(_live(ctx, find_node(ctx.store, params["node"])))


def node_update(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    """A whole new ``spec`` (the Engine API's), and/or changes to it: availability,
    labels (``label_add``: a mapping, ``label_rm``: names) and role. Demotion keeps
    quorum or is refused; the last manager stays."""
    node = find_node(ctx.store, params["node"])
    _check_version(node, params)
    spec = params.get("spec") or node.spec  # the Engine API sends a whole NodeSpec
    if not isinstance(spec, NodeSpec):
        raise ApiError("InvalidArgument", "a node spec is required")
    if params.get("availability") is not None:
        spec = replace(spec, availability=NodeAvailability(params["availability"]))
    labels = dict(spec.labels)
    for key, value in sorted(dict(params.get("label_add") or {}).items()):
        labels[key] = value
    for key in params.get("label_rm") or ():
        if key not in labels:
            raise ApiError("InvalidArgument", f"key {key} doesn't exist in node's labels")
        del labels[key]
    spec = replace(spec, labels=Labels(labels))
    role = params.get("role")
    if role is not None:
        spec = replace(spec, role=NodeRole(role))
    validate_node_spec(spec)
    demoting = node.spec.role is NodeRole.MANAGER and spec.role is NodeRole.WORKER
    if demoting:
        _check_demote(ctx, node)
    updated = replace(node, spec=spec)

    def build(tx: WriteTx) -> None:
        # onto the node as it is now: the dispatcher may have written its status
        tx.update(replace(_unchanged_spec(tx, "nodes", node), spec=spec))

    then = None
    if demoting and ctx.demote is not None:
        demote = ctx.demote
        then = lambda: demote(updated)  # noqa: E731
    return Write(build, then=then)


def _managers(store: MemoryStore) -> list[Node]:
    return [
        n
        for _, n in sorted(store.tables["nodes"].items())
        if isinstance(n, Node) and n.spec.role is NodeRole.MANAGER
    ]


def _check_demote(ctx: ApiContext, node: Node) -> None:
    managers = _managers(ctx.store)
    if len(managers) <= 1:
        raise ApiError("FailedPrecondition", "attempting to demote the last manager of the swarm")
    raft_id = node.manager_status.raft_id if node.manager_status else 0
    if raft_id in ctx.voters:
        remaining = ctx.voters - {raft_id}
        reachable = len(ctx.reachable & remaining)
        if reachable < len(remaining) // 2 + 1:
            raise ApiError(
                "FailedPrecondition",
                "can't remove member from the raft: this would result in a loss of quorum",
            )


def node_remove(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    """SwarmKit's RemoveNode: a manager still in the Raft membership must be
    demoted first, and only a READY node needs ``force`` (an unknown or
    disconnected one goes as a down one does). Errors name the node by its ID."""
    node = find_node(ctx.store, params["node"])
    force = bool(params.get("force"))
    raft_id = node.manager_status.raft_id if node.manager_status else None
    if node.spec.role is NodeRole.MANAGER and raft_id in ctx.voters:
        raise ApiError(
            "FailedPrecondition",
            f"node {node.id} is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal",
        )
    if not force and node.status.state is NodeState.READY:
        raise ApiError("FailedPrecondition", f"node {node.id} is not down and can't be removed")

    def build(tx: WriteTx) -> None:
        found = tx.get("nodes", node.id)
        if found is not None:
            tx.delete(found)

    return Write(build)


# -- the swarm -------------------------------------------------------------------------------


def _cluster(store: MemoryStore) -> Cluster:
    clusters = [c for c in store.tables["clusters"].values() if isinstance(c, Cluster)]
    if not clusters:
        raise ApiError("Unavailable", "This node is not a swarm manager.")
    return clusters[0]


def swarm_inspect(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    """``docker swarm inspect`` (and the join tokens ``swarm join-token`` prints): the
    root CA shows as ``TLSInfo``, its key never, nor the unlock key."""
    return Answer(replace(_cluster(ctx.store), root_ca=None, unlock_key=""))


def swarm_unlock_key(ctx: ApiContext, params: Mapping[str, Any]) -> Answer:
    """``docker swarm unlock-key``: the managers' unlock key, "" without autolock."""
    return Answer(_cluster(ctx.store).unlock_key)


def swarm_update(ctx: ApiContext, params: Mapping[str, Any]) -> Write:
    """``docker swarm update``, ``join-token --rotate``, ``swarm ca --rotate`` and
    ``unlock-key --rotate``: the task history limit, the dispatcher's heartbeat period,
    the lifetime of new node certificates (``--cert-expiry``), new join secrets (the
    CA digest kept), a root CA rotation (:mod:`core.manager.ca_api`), autolock and its
    key."""
    current = _cluster(ctx.store)
    _check_version(current, params)
    spec = current.spec
    given = params.get("spec")  # the Engine API's: a whole spec whose zeros keep the current
    if given is not None:
        if not isinstance(given, ClusterSpec):
            raise ApiError("InvalidArgument", "a cluster spec is required")
        spec = merged(given, current.spec)
    limit = params.get("task_history_limit")
    if limit is not None:
        orchestration = replace(spec.orchestration, task_history_retention_limit=int(limit))
        spec = replace(spec, orchestration=orchestration)
    heartbeat = params.get("dispatcher_heartbeat_ns")
    if heartbeat is not None:
        if int(heartbeat) <= 0:
            raise ApiError("InvalidArgument", "heartbeat period must be positive")
        spec = replace(
            spec, dispatcher=replace(spec.dispatcher, heartbeat_period_ns=int(heartbeat))
        )
    expiry = params.get("node_cert_expiry_ns")
    if expiry is not None:
        try:
            check_cert_expiry(int(expiry) // 10**9)
        except CAError as error:
            raise ApiError("InvalidArgument", str(error)) from None
        spec = replace(spec, ca_config=replace(spec.ca_config, node_cert_expiry_ns=int(expiry)))
    autolock = params.get("autolock")  # shoal's CLI: --autolock=true|false
    if autolock is not None:
        spec = replace(spec, encryption_config=EncryptionConfig(auto_lock_managers=bool(autolock)))
    validate_cluster_spec(spec)
    spec, rotated_ca = ca_update(current, spec, params, ctx.entropy, ctx.wall)
    tokens = current.join_tokens
    for role in ("worker", "manager"):
        if params.get(f"rotate_{role}_token"):
            if ctx.entropy is None:
                raise ApiError("Internal", "no entropy to make a new join token with")
            rotated = join_tokens.rotate(getattr(tokens, role), ctx.entropy)
            tokens = replace(tokens, **{role: rotated})
    unlock_key = next_unlock_key(
        current.unlock_key,
        spec.encryption_config.auto_lock_managers,
        bool(params.get("rotate_manager_unlock_key")),
        ctx.entropy,
    )
    updated = replace(rotated_ca, spec=spec, join_tokens=tokens, unlock_key=unlock_key)

    def build(tx: WriteTx) -> None:
        now = tx.get("clusters", current.id)
        if now is None or now.version != current.version:
            raise SequenceConflict("clusters", current.id)
        tx.update(updated)

    # for the CLI, which prints the key when this update turned autolock on
    locked_now = unlock_key != "" and current.unlock_key == ""
    return Write(build, lambda: {"unlock_key": unlock_key, "autolock_turned_on": locked_now})


HANDLERS: dict[str, Handler] = {
    "SwarmInspect": swarm_inspect,
    "SwarmUpdate": swarm_update,
    "SwarmUnlockKey": swarm_unlock_key,
    "ServiceLogs": service_logs,
    "ServiceCreate": service_create,
    "ServiceUpdate": service_update,
    "ServiceRollback": service_rollback,
    "ServiceScale": service_scale,
    "ServiceRemove": service_remove,
    "ServiceInspect": service_inspect,
    "ServiceList": service_list,
    "TaskList": task_list,
    "NodeList": node_list,
    "NodeInspect": node_inspect,
    "NodeUpdate": node_update,
    "NodeRemove": node_remove,
}

# secrets, configs and networks (that module reads this one's helpers at call time)
from core.manager.objects_api import OBJECT_HANDLERS  # noqa: E402

HANDLERS.update(OBJECT_HANDLERS)


def _check_text(value: Any, where: str) -> None:
    """Every string a request carries must be text the store can write (UTF-8): a
    lone surrogate (a JSON ``\\ud800`` escape, a non-UTF-8 argument) is refused here
    rather than failing the leader's log write."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError("InvalidArgument", f"invalid {where}: not valid UTF-8 text") from None
    elif isinstance(value, WireModel | Mapping):
        data = value.to_json() if isinstance(value, WireModel) else value
        for key, item in data.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item, where)


def handle(ctx: ApiContext, method: str, params: Mapping[str, Any]) -> Answer | Write | Gather:
    handler = HANDLERS.get(method)
    if handler is None:
        raise ApiError("Unimplemented", f"unknown method {method}")
    for name, value in sorted(params.items()):
        _check_text(value, name)
    try:
        return handler(ctx, params)
    except KeyError as missing:
        raise ApiError("InvalidArgument", f"{method} needs the parameter {missing}") from None
