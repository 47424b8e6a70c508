"""The state of each overlay network as nodes program it, and which nodes need it,
kept by the leader's dispatcher from store events (Docker gossips the same facts
between nodes in NetworkDB; see :mod:`core.dataplane.state`).

A network's state is recomputed only when something that shows in it changed (a
task's address, node, or passage into or out of RUNNING; a service's name, VIP,
ports or networks; a node's address or endpoints), at most once per assignment
batch, from the tasks with an address on the network (the task index keeps them)
and the services on it, never from a scan of every task. Each change makes a new
version and one delta from the last (:mod:`core.dataplane.delta`), computed once
for all of the network's users.

Which nodes need a network: those with a task that has an address on it and may
have its container (assigned, not yet ended: also a task still stopping after its
service dropped the network or was removed), and for the ingress network also
every node with an ingress endpoint while some service publishes a port through
the routing mesh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from core.allocator.vni import network_vni
from core.dataplane.delta import NetworkDelta, address_order, diff
from core.dataplane.state import Endpoint, NetworkState, PublishedPort, ServiceBinding
from core.model.enums import PublishMode, ResolutionMode
from core.model.network import Network, NetworkAttachment
from core.model.node import Node
from core.model.service import Service
from core.model.task import Task, container_name
from core.store import Event, EventCommit, MemoryStore
from core.store.index import TaskIndex
from core.tasks.states import TaskState


def _bare(address: str) -> str:
    return address.split("/")[0]


def underlay(addr: str) -> str:
    """A node's address without its swarm port: where VXLAN frames for its endpoints
    go ("10.231.0.2:2377" -> "10.231.0.2"; a simulated host's name stays as it is)."""
    host, colon, port = addr.rpartition(":")
    if colon and port.isdigit():
        return host.strip("[]")
    return addr


def _task_shows(task: Task | None) -> tuple[object, ...] | None:
    """What of a task shows in its networks' states."""
    if task is None or not task.networks_attachments:
        return None
    return (
        task.node_id,
        _endpoint_state(task),
        _backend(task),
        task.networks_attachments,
        task.slot,
        task.name,
    )


def _endpoint_state(task: Task) -> bool:
    """Its container may be on the network: assigned, not yet ended."""
    return bool(task.node_id) and TaskState.ASSIGNED <= task.status.state <= TaskState.RUNNING


def _backend(task: Task) -> bool:
    """It takes traffic: running (and healthy: a task with a health check is not
    RUNNING before), and not being shut down."""
    return task.status.state is TaskState.RUNNING and task.desired_state <= TaskState.RUNNING


def _ingress_ports(service: Service) -> tuple[PublishedPort, ...]:
    return tuple(
        PublishedPort(str(p.protocol or "tcp"), p.published_port, p.target_port)
        for p in service.endpoint.ports
        if (p.publish_mode or PublishMode.INGRESS) is PublishMode.INGRESS and p.published_port
    )


class NetworkStates:
    """Every overlay network's state and the nodes that need it."""

    def __init__(self, store: MemoryStore, index: TaskIndex) -> None:
        self.store = store
        self.index = index
        self.states: dict[str, NetworkState] = {}
        self.users: dict[str, frozenset[str]] = {}  # network id -> nodes that need it
        self.versions: dict[str, int] = {}  # network id -> its state's version (never reset)
        self.deltas: dict[str, NetworkDelta] = {}  # network id -> from the last version
        self._wholes: dict[str, NetworkDelta] = {}  # network id -> its whole current state
        self.dirty: set[str] = set()
        self.everything_dirty = True  # a new leader computes every network once

    # -- store events ----------------------------------------------------------------------

    def on_event(self, event: Event | EventCommit) -> None:
        if isinstance(event, EventCommit):
            return
        old, new = event.old, event.new
        if event.table == "tasks":
            assert old is None or isinstance(old, Task)
            assert new is None or isinstance(new, Task)
            if _task_shows(old) != _task_shows(new):
                for task in (old, new):
                    if task is not None:
                        self.dirty.update(a.network.id for a in task.networks_attachments)
        elif event.table == "services":
            if self._service_shows(old) != self._service_shows(new):
                by_name, ingress = self._network_names()
                for service in (old, new):
                    if isinstance(service, Service):
                        self.dirty.update(_service_networks(service, by_name, ingress))
        elif event.table == "nodes":
            assert old is None or isinstance(old, Node)
            assert new is None or isinstance(new, Node)
            before = (old.status.addr, old.attachments) if old is not None else None
            after = (new.status.addr, new.attachments) if new is not None else None
            if before != after:
                for node in (old, new):
                    if node is not None:
                        self.dirty.update(a.network.id for a in node.attachments)
                        self.dirty.update(self._networks_of_tasks_on(node.id))
        elif event.table == "networks":
            self.dirty.add(event.object.id)

    @staticmethod
    def _service_shows(service: object) -> tuple[object, ...] | None:
        if not isinstance(service, Service):
            return None
        spec = service.spec
        return (spec.name, service.endpoint, spec.task_template.networks, spec.networks)

    def _networks_of_tasks_on(self, node_id: str) -> set[str]:
        tasks = self.store.tables["tasks"]
        return {
            a.network.id
            for task_id in self.index.on_node(node_id)
            if isinstance(task := tasks.get(task_id), Task)
            for a in task.networks_attachments
        }

    # -- computing ---------------------------------------------------------------------------

    def refresh(self) -> set[str]:
        """Recompute what changed since last time; the nodes that needed, or now
        need, a network whose state or users changed."""
        networks = self.store.tables["networks"]
        if self.everything_dirty:
            self.dirty.update(networks)
            self.dirty.update(self.states)
            self.everything_dirty = False
        if not self.dirty:
            return set()
        dirty, self.dirty = sorted(self.dirty), set()
        on_network = self._services_by_network()
        changed: set[str] = set()
        for network_id in dirty:
            network = networks.get(network_id)
            found = None
            if isinstance(network, Network):
                found = self._compute(network, on_network.get(network_id, []))
            if found is None:
                self.states.pop(network_id, None)
                self.deltas.pop(network_id, None)
                self._wholes.pop(network_id, None)
                changed.update(self.users.pop(network_id, ()))
                continue
            state, users = found
            old = self.states.get(network_id)
            if old != state:
                version = self.versions.get(network_id, 0) + 1
                base = self.versions.get(network_id, 0) if old is not None else 0
                self.deltas[network_id] = diff(old, state, base, version)
                self._wholes.pop(network_id, None)
                self.versions[network_id] = version
                self.states[network_id] = state
            elif self.users.get(network_id) == users:
                continue
            changed.update(self.users.get(network_id, ()))
            changed.update(users)
            self.users[network_id] = users
        return changed

    def changes_for(
        self, node_id: str, sent: Mapping[str, int]
    ) -> tuple[tuple[NetworkDelta, ...], tuple[str, ...], dict[str, int]]:
        """What to send a node that holds the ``sent`` versions: a delta for each
        network it needs whose version moved on (the whole state if it holds
        another version than the last delta's base, or none), the networks it no
        longer needs, and the versions it will then hold."""
        deltas: list[NetworkDelta] = []
        holds: dict[str, int] = {}
        for network_id in sorted(self.users):
            if node_id not in self.users[network_id]:
                continue
            version = holds[network_id] = self.versions[network_id]
            if sent.get(network_id) == version:
                continue
            delta = self.deltas.get(network_id)
            if delta is None or delta.base == 0 or sent.get(network_id) != delta.base:
                delta = self._whole(network_id)
            deltas.append(delta)
        removed = tuple(network_id for network_id in sorted(sent) if network_id not in holds)
        return tuple(deltas), removed, holds

    def _whole(self, network_id: str) -> NetworkDelta:
        whole = self._wholes.get(network_id)
        if whole is None:
            whole = diff(None, self.states[network_id], 0, self.versions[network_id])
            self._wholes[network_id] = whole
        return whole

    def _network_names(self) -> tuple[dict[str, str], str]:
        """Network ids by name, and the ingress network's id ("" if none)."""
        networks = self.store.tables["networks"]
        by_name: dict[str, str] = {}
        ingress = ""
        for network_id in sorted(networks):
            network = networks[network_id]
            if isinstance(network, Network):
                by_name.setdefault(network.spec.name, network_id)
                ingress = ingress or (network_id if network.spec.ingress else "")
        return by_name, ingress

    def _services_by_network(self) -> dict[str, list[Service]]:
        by_name, ingress = self._network_names()
        found: dict[str, list[Service]] = {}
        services = self.store.tables["services"]
        for service_id in sorted(services):
            service = services[service_id]
            if isinstance(service, Service):
                for network_id in sorted(_service_networks(service, by_name, ingress)):
                    found.setdefault(network_id, []).append(service)
        return found

    def _compute(
        self, network: Network, services: list[Service]
    ) -> tuple[NetworkState, frozenset[str]] | None:
        bare = bare_state(network)
        if bare is None:
            return None  # not allocated yet
        nodes = self.store.tables["nodes"]
        tasks = self.store.tables["tasks"]
        endpoints: list[Endpoint] = []
        backends: dict[str, list[Endpoint]] = {}  # service id -> by task id
        users: set[str] = set()
        on_it = {service.id for service in services}
        every_service = self.store.tables["services"]
        for task_id in self.index.on_network(network.id):
            task = tasks.get(task_id)
            if not isinstance(task, Task) or not _endpoint_state(task):
                continue
            address = _address_on(task.networks_attachments, network.id)
            node = nodes.get(task.node_id)
            if address is None or not isinstance(node, Node):
                continue
            service = every_service.get(task.service_id)  # gone while its tasks stop
            name = container_name(task, service.spec.name if isinstance(service, Service) else "")
            endpoint = Endpoint(address, node.id, underlay(node.status.addr), task.id, name)
            endpoints.append(endpoint)
            users.add(node.id)
            if _backend(task) and task.service_id in on_it:
                backends.setdefault(task.service_id, []).append(endpoint)
        bindings = [
            self._binding(service, network, tuple(backends.get(service.id, ())))
            for service in services
        ]
        if network.spec.ingress and any(b.ports for b in bindings):
            users.update(
                node_id
                for node_id, node in nodes.items()
                if isinstance(node, Node) and _address_on(node.attachments, network.id)
            )
        for node_id in sorted(users):
            node = nodes.get(node_id)
            address = _address_on(node.attachments, network.id) if isinstance(node, Node) else None
            if isinstance(node, Node) and address is not None:
                endpoints.append(Endpoint(address, node.id, underlay(node.status.addr)))
        state = replace(
            bare,
            endpoints=tuple(sorted(endpoints, key=address_order)),
            services=tuple(sorted(bindings, key=lambda b: (b.name, b.service_id))),
        )
        return state, frozenset(users)

    @staticmethod
    def _binding(
        service: Service, network: Network, backends: tuple[Endpoint, ...]
    ) -> ServiceBinding:
        vip = next(
            (_bare(v.addr) for v in service.endpoint.virtual_ips if v.network_id == network.id), ""
        )
        mode = service.spec.endpoint_spec.mode if service.spec.endpoint_spec else None
        if mode is ResolutionMode.DNSRR:
            vip = ""
        spec = service.spec
        aliases = tuple(
            sorted(
                alias
                for attachment in spec.task_template.networks or spec.networks
                if attachment.target in (network.id, network.spec.name)
                for alias in attachment.aliases
            )
        )
        ports = _ingress_ports(service) if network.spec.ingress else ()
        return ServiceBinding(service.id, spec.name, vip, backends, ports, aliases)


def bare_state(network: Network) -> NetworkState | None:
    """A network's state without endpoints or services: what its attachment alone
    tells (enough to build its sandbox before the full state arrives). None for a
    network the allocator has not finished."""
    configs = network.ipam_options.configs if network.ipam_options else ()
    vni = network_vni(network)
    if not configs or vni is None:
        return None
    return NetworkState(
        network_id=network.id,
        name=network.spec.name,
        vni=vni,
        subnet=configs[0].subnet,
        gateway=configs[0].gateway,
        ingress=network.spec.ingress,
        internal=network.spec.internal,
    )


def _service_networks(service: Service, by_name: Mapping[str, str], ingress: str) -> set[str]:
    """The networks a service is on: those it has a VIP on, those its spec names
    (by id or name), and ingress while it publishes a port through the mesh."""
    ids = {vip.network_id for vip in service.endpoint.virtual_ips}
    spec = service.spec
    for attachment in spec.task_template.networks or spec.networks:
        ids.add(by_name.get(attachment.target, attachment.target))
    if ingress and _ingress_ports(service):
        ids.add(ingress)
    return ids


def _address_on(attachments: Iterable[NetworkAttachment], network_id: str) -> str | None:
    for attachment in attachments:
        if attachment.network.id == network_id and attachment.addresses:
            return _bare(attachment.addresses[0])
    return None
