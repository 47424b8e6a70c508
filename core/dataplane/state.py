"""What a node programs for one overlay network: the network's state as the leader
computes it from the store, shared by every node that needs the network.

Docker spreads this state by gossip (libnetwork's NetworkDB: ``overlay_peer_table``
for peers, the service-binding table for VIPs, backends and names). shoal's
dispatcher computes it from the store and sends it with the node's assignments, so
the simulated and real data planes are fed the same values from the same code. A
node gets a network's state only while a task of its own uses the network (the
ingress network: on every node while some service publishes a port through it).

Everything here is immutable and sorted, so that two states compare equal exactly
when a node would program the same thing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: VXLAN's UDP port (Docker's default ``--data-path-port``).
VXLAN_PORT = 4789
#: An overlay's MTU on a 1500-byte underlay (VXLAN takes 50 bytes).
OVERLAY_MTU = 1450
#: Where a container's embedded DNS server answers.
RESOLVER_ADDRESS = "127.0.0.11"
#: The TTL of the embedded DNS server's answers (libnetwork's ``respTTL``).
DNS_TTL = 600


def mac_for(address: str) -> str:
    """The MAC address libnetwork derives from an endpoint's IPv4 address:
    ``02:42`` then the address's four bytes (``10.0.1.5`` -> ``02:42:0a:00:01:05``)."""
    packed = ipaddress.IPv4Address(address).packed
    return ":".join(f"{byte:02x}" for byte in (0x02, 0x42, *packed))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address on the network: a task's container, or a node's load balancer
    (``task_id`` empty). ``host`` is the node's underlay address, the VXLAN tunnel
    endpoint that frames for ``address`` are sent to."""

    address: str  # without its prefix length: "10.0.1.5"
    node_id: str
    host: str
    task_id: str = ""
    name: str = ""  # the container's name, "web.1.<task id>", for DNS

    @property
    def mac(self) -> str:
        return mac_for(self.address)


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A port the routing mesh publishes on every node (ingress mode)."""

    protocol: str  # "tcp", "udp" or "sctp"
    published: int
    target: int


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """One service on one network: its name, its virtual IP (empty in dnsrr mode),
    the tasks that take its traffic and, on the ingress network, its published
    ports. Only a running task (healthy, when it has a health check: a task is not
    RUNNING before) is a backend."""

    service_id: str
    name: str
    vip: str  # without its prefix length; "" for endpoint mode dnsrr
    backends: tuple[Endpoint, ...]  # sorted by task id
    ports: tuple[PublishedPort, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def dnsrr(self) -> bool:
        return not self.vip


@dataclass(frozen=True, slots=True)
class NetworkState:
    """Everything a node programs for one overlay network."""

    network_id: str
    name: str
    vni: int
    subnet: str  # "10.0.1.0/24"
    gateway: str  # "10.0.1.1"
    ingress: bool = False
    internal: bool = False
    #: Every endpoint on the network, tasks' and load balancers', by address: a node
    #: programs the ones on other nodes as static neighbour and FDB entries.
    endpoints: tuple[Endpoint, ...] = ()
    services: tuple[ServiceBinding, ...] = ()  # by name

    @property
    def prefix_length(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen

    def load_balancer(self, node_id: str) -> Endpoint | None:
        """The node's own load-balancer endpoint on the network (the ingress
        sandbox's address on ``ingress``), once the allocator has given it one."""
        for endpoint in self.endpoints:
            if endpoint.node_id == node_id and not endpoint.task_id:
                return endpoint
        return None

    def remote(self, node_id: str) -> tuple[Endpoint, ...]:
        """The endpoints on other nodes: what a node programs as peers."""
        return tuple(e for e in self.endpoints if e.node_id != node_id)

    def service(self, name: str) -> ServiceBinding | None:
        for binding in self.services:
            if binding.name == name:
                return binding
        return None
