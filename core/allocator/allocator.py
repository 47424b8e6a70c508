"""The allocator: networks get subnets and VXLAN ids, services their ports and
virtual IPs, new tasks their addresses, after which a task moves NEW -> PENDING for
the scheduler, and nodes an address on each network they need for their load
balancer (SwarmKit's ``manager/allocator``).

Each input returns the object as it should be written back, or None when there is
nothing to write (yet). A task of a service that is not allocated yet waits; one
attached to no network is PENDING at once. Everything is released when its object
goes. Networks are matched by id or name, as ``--network`` allows.

What is handed out stays: a service keeps its ports and VIPs through its updates,
and a new leader first takes back everything the store says is allocated
(:meth:`Allocator.restore`, SwarmKit's allocator init), so a failover changes no
subnet, VNI, port or address and the next one handed out is one nobody holds.

A node's load-balancer address on a network is given when the node first needs the
network (a task of its own uses it; for ``ingress``, once any service publishes a
port through the routing mesh) and kept until the node or the network goes.
SwarmKit gives every node one on every overlay network at once; giving them on
need keeps a /24 from running out on a large swarm that never uses the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from core.allocator.ipam import AddressPool, Subnet
from core.allocator.ports import PortAllocator
from core.allocator.vni import OVERLAY, VniAllocator, network_vni, overlay_driver
from core.errors import ShoalError
from core.model import replace
from core.model.enums import PublishMode, ResolutionMode
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkAttachment
from core.model.node import Node
from core.model.service import Endpoint, EndpointSpec, EndpointVirtualIP, PortConfig, Service
from core.model.task import Task, TaskStatus
from core.model.timestamp import Timestamp
from core.tasks.states import TaskState

PENDING_MESSAGE = "pending task scheduling"


class NetworkNotAllocated(ShoalError):
    def __init__(self, network_id: str) -> None:
        super().__init__(f"network {network_id} not allocated")


class Allocator:
    """Ports, subnets and addresses in use, as the store's objects say."""

    def __init__(self, pool: AddressPool | None = None) -> None:
        self.ports = PortAllocator()
        self.pool = pool or AddressPool()
        self.vnis = VniAllocator()
        self.networks: dict[str, Network] = {}
        self.vips: dict[str, list[tuple[str, ipaddress.IPv4Address]]] = {}  # by service
        self.addresses: dict[str, list[tuple[str, ipaddress.IPv4Address]]] = {}  # by task
        self.node_addresses: dict[str, list[tuple[str, ipaddress.IPv4Address]]] = {}  # by node
        self.ready_services: set[str] = set()
        # networks whose subnet could not be had (it overlaps another, or none is left):
        # created all the same, as in SwarmKit, and what attaches to them waits
        self.unallocated: set[str] = set()

    # -- a new leader ---------------------------------------------------------------------

    def restore(
        self,
        networks: Iterable[Network],
        services: Iterable[Service],
        tasks: Iterable[Task],
        nodes: Iterable[Node] = (),
    ) -> None:
        """Hold what the store says was handed out: the networks' subnets and VNIs,
        the services' published ports and VIPs, the tasks' and nodes' addresses.
        Nothing new is allocated and nothing held changes; call it before any other
        input."""
        for network in networks:
            configs = network.ipam_options.configs if network.ipam_options else ()
            cidr = configs[0].subnet if configs else ""
            if cidr and self.pool.restore(network.id, network.spec.name, cidr):
                self.networks[network.id] = network
            vni = network_vni(network)
            if vni is not None:
                self.vnis.restore(network.id, vni)
        for service in services:
            self.ports.restore(service.id, service.spec.name, service.endpoint.ports)
            for vip in service.endpoint.virtual_ips:
                self._hold(self.vips, service.id, vip.network_id, vip.addr)
        for task in tasks:
            for attachment in task.networks_attachments:
                for address in attachment.addresses:
                    self._hold(self.addresses, task.id, attachment.network.id, address)
        for node in nodes:
            for attachment in node.attachments:
                for address in attachment.addresses:
                    self._hold(self.node_addresses, node.id, attachment.network.id, address)
        for subnet in self.pool.subnets.values():
            subnet.resume()

    def _hold(
        self,
        holders: dict[str, list[tuple[str, ipaddress.IPv4Address]]],
        holder: str,
        network_id: str,
        address: str,
    ) -> None:
        subnet = self.pool.subnets.get(network_id)
        ip = ipaddress.IPv4Interface(address).ip
        if subnet is not None and subnet.hold(ip):
            holders.setdefault(holder, []).append((network_id, ip))

    # -- networks -------------------------------------------------------------------------

    def network_changed(self, network: Network) -> Network | None:
        """Give a new network its subnet (the one it asks for, or the next free one
        of the pools) and, for an overlay, its VNI."""
        allocated = network
        if network.id not in self.pool.subnets:
            options = network.spec.ipam_options
            requested = options.configs[0].subnet if options and options.configs else None
            try:
                subnet = self.pool.allocate(network.id, network.spec.name, requested or None)
            except ShoalError:
                self.unallocated.add(network.id)
                raise
            self.unallocated.discard(network.id)
            config = IPAMConfig(subnet=str(subnet.network), gateway=str(subnet.gateway))
            allocated = replace(allocated, ipam_options=IPAMOptions(configs=(config,)))
        if _overlay(network) and network_vni(network) is None:
            try:
                vni = self.vnis.allocate(network.id)
            except ShoalError:
                if allocated is network:
                    return None
                self.pool.release(network.id)  # all or nothing: it is tried again later
                raise
            allocated = replace(allocated, driver_state=overlay_driver(vni))
        if allocated is network:
            self.networks.setdefault(network.id, network)
            return None
        self.networks[network.id] = allocated
        return allocated

    def network_removed(self, network_id: str) -> None:
        self.unallocated.discard(network_id)
        self.pool.release(network_id)
        self.vnis.release(network_id)
        self.networks.pop(network_id, None)
        for held in self.node_addresses.values():
            held[:] = [(n, a) for n, a in held if n != network_id]

    def _network(self, target: str) -> Network | None:
        if target in self.networks:
            return self.networks[target]
        named = [n for n in self.networks.values() if n.spec.name == target]
        return named[0] if named else None

    def _ingress(self) -> Network | None:
        return next((n for n in self.networks.values() if n.spec.ingress), None)

    def ingress_id(self) -> str:
        ingress = self._ingress()
        return ingress.id if ingress is not None else ""

    def mesh_in_use(self) -> bool:
        """Some service publishes a port through the routing mesh (every node then
        needs the ingress network)."""
        return self._ingress() is not None and self.ports.in_use()

    # -- nodes ----------------------------------------------------------------------------

    def node_needs(self, node: Node, network_ids: Iterable[str]) -> Node | None:
        """The node with a load-balancer address on each of ``network_ids``, besides
        those it holds already (and none on a network that is gone), or None when
        that is what it has. Built from what the allocator holds for the node, not
        from the node as the store has it, which lags the writes in flight: two
        allocations before the first commits must not undo each other. A network
        out of addresses is left out: the node asks again on its next change."""
        held = {n: a for n, a in self.node_addresses.get(node.id, ()) if n in self.networks}
        missing = sorted(set(network_ids) - held.keys())
        if (
            not missing
            and len(node.attachments) == len(held)
            and all(a.network.id in held for a in node.attachments)
        ):
            return None  # the common case, in O(attachments)
        for network_id in missing:
            subnet = self.pool.subnets.get(network_id)
            if network_id not in self.networks or subnet is None:
                continue
            try:
                held[network_id] = subnet.allocate()
            except ShoalError:
                continue
            self.node_addresses.setdefault(node.id, []).append((network_id, held[network_id]))
        attachments = tuple(
            NetworkAttachment(
                network=self.networks[network_id],
                addresses=(f"{address}/{self.pool.subnets[network_id].network.prefixlen}",),
            )
            for network_id, address in sorted(held.items())
        )
        return None if attachments == node.attachments else replace(node, attachments=attachments)

    def node_removed(self, node_id: str) -> None:
        for network_id, address in self.node_addresses.pop(node_id, []):
            subnet = self.pool.subnets.get(network_id)
            if subnet is not None:
                subnet.release(address)

    # -- services -------------------------------------------------------------------------

    def service_changed(self, service: Service) -> Service:
        """The service with its ports resolved and a VIP on each of its networks
        (raises :class:`~core.allocator.ports.PortConflict` for a taken port)."""
        spec = service.spec.endpoint_spec or EndpointSpec()
        ports = self.ports.allocate(service.id, service.spec.name, spec.ports)
        kept = dict(self.vips.get(service.id, ()))  # a network's VIP stays the service's
        self._release_vips(service.id)
        vips: list[EndpointVirtualIP] = []
        if spec.mode is not ResolutionMode.DNSRR:
            for network in self._service_networks(service, ports):
                address = self._vip(self.pool.subnets[network.id], kept.get(network.id))
                self.vips.setdefault(service.id, []).append((network.id, address))
                prefix = self.pool.subnets[network.id].network.prefixlen
                vips.append(EndpointVirtualIP(network_id=network.id, addr=f"{address}/{prefix}"))
        self.ready_services.add(service.id)
        endpoint = Endpoint(spec=spec, ports=ports, virtual_ips=tuple(vips))
        return replace(service, endpoint=endpoint)

    def service_removed(self, service_id: str) -> None:
        self.ports.release(service_id)
        self._release_vips(service_id)
        self.ready_services.discard(service_id)

    def _service_networks(self, service: Service, ports: tuple[PortConfig, ...]) -> list[Network]:
        networks: list[Network] = []
        ingress = self._ingress()
        publishes = any(p.publish_mode is PublishMode.INGRESS for p in ports)
        if publishes and ingress is not None:
            networks.append(ingress)
        for attachment in service.spec.task_template.networks or service.spec.networks:
            if attachment.target in self.unallocated:  # SwarmKit: "not allocated"
                raise NetworkNotAllocated(attachment.target)
            network = self._network(attachment.target)
            if network is not None and network not in networks:
                networks.append(network)
        return networks

    @staticmethod
    def _vip(subnet: Subnet, kept: ipaddress.IPv4Address | None) -> ipaddress.IPv4Address:
        if kept is not None and subnet.hold(kept):
            return kept
        return subnet.allocate()

    def _release_vips(self, service_id: str) -> None:
        for network_id, address in self.vips.pop(service_id, []):
            subnet = self.pool.subnets.get(network_id)
            if subnet is not None:
                subnet.release(address)

    # -- tasks ----------------------------------------------------------------------------

    def task_changed(self, task: Task, service: Service | None, wall: float) -> Task | None:
        """A NEW task of an allocated service, with its addresses, now PENDING."""
        if task.status.state is not TaskState.NEW or task.id in self.addresses:
            return None
        if service is None or service.id not in self.ready_services:
            return None  # its service first
        attachments = []
        self.addresses[task.id] = []
        try:
            for network in self._service_networks(service, service.endpoint.ports):
                subnet: Subnet = self.pool.subnets[network.id]
                address = subnet.allocate()
                self.addresses[task.id].append((network.id, address))
                addresses = (f"{address}/{subnet.network.prefixlen}",)
                attachments.append(NetworkAttachment(network=network, addresses=addresses))
        except ShoalError:
            self.task_removed(task.id)  # it stays NEW and is tried again later
            return None
        status = TaskStatus(
            timestamp=Timestamp.from_seconds(wall), state=TaskState.PENDING, message=PENDING_MESSAGE
        )
        return replace(task, status=status, networks_attachments=tuple(attachments))

    def task_removed(self, task_id: str) -> None:
        for network_id, address in self.addresses.pop(task_id, []):
            subnet = self.pool.subnets.get(network_id)
            if subnet is not None:
                subnet.release(address)


def _overlay(network: Network) -> bool:
    driver = network.spec.driver_configuration
    return driver is None or driver.name in ("", OVERLAY)
