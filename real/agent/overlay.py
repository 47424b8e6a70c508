"""One host's overlay networks, built as Docker's overlay driver builds them.

Per network (real-backend.md §1.1), driven by :class:`NetworkState`:

- a sandbox namespace ``<prefix>ov-<id[:10]>`` holding a bridge ``ov-<vni>-<id[:5]>``
  with the gateway address and a VXLAN device ``vx-<vni>-<id[:5]>`` enslaved to it. The
  VXLAN device is created here, in the host's namespace, and then moved into the
  sandbox: its UDP socket (port 4789) stays on the host's underlay;
- the peers of the other nodes as static entries on the VXLAN device: a permanent
  neighbour (address -> MAC, answered by the device's ARP proxy) and an FDB entry
  (MAC -> the peer node's underlay address). Learning is off, so a peer that left the
  state is unreachable at once (Docker leaves learning on; real-backend.md §1.1);
- the node's load-balancer endpoint (§1.2) in ``<prefix>lb_<id[:9]>``: joined to the
  bridge by a veth, holding its address and every service VIP as a /32 alias, with
  forwarding on (the balancer DNATs there);
- on the ingress network (§1.3) that endpoint lives in ``<prefix>ingress_sbox``
  instead, which a veth pair also joins to the host namespace, standing in for
  ``docker_gwbridge``: the host's published-port DNAT goes to :data:`INGRESS_ADDRESS`.

A container joins with :meth:`Overlay.attach`: a veth whose bridge end is named from
the container's address (``ve<8 hex digits>``) and whose other end is in the
container.

:meth:`Overlay.apply` reconciles by difference against what the kernel has, not
against a memory of earlier calls: a second apply of equal states sends no netlink
change, and a restarted agent picks up what its predecessor built. What the states
no longer hold (a network, a peer, a VIP, the load balancer) is deleted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket as pysocket
import threading
from collections.abc import Mapping

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from core.dataplane.state import OVERLAY_MTU, VXLAN_PORT, NetworkState, mac_for
from real.agent import netns

#: The ingress sandbox's address on the link to the host (Docker's docker_gwbridge):
#: where the host DNATs published ports.
INGRESS_ADDRESS = "172.18.0.2"
#: The host's side of that link, the ingress sandbox's default gateway.
GWBRIDGE_ADDRESS = "172.18.0.1"
GWBRIDGE_PREFIXLEN = 30
#: The host-namespace end of that link.
GWBRIDGE_IF = "shoal_gwbridge"
#: The load balancer's interface on the overlay, in its namespace.
LB_IF = "eth0"
#: The ingress sandbox's interface towards the host.
SBOX_GW_IF = "eth1"
#: The bridge port of the load balancer's veth, in the network's sandbox.
LB_PORT = "lb0"

_FORWARD = "net/ipv4/ip_forward"
_ADDRESS_FAMILY = pysocket.AF_INET
_NUD_PERMANENT = 0x80


def bridge_name(state: NetworkState) -> str:
    return f"ov-{state.vni:06x}-{state.network_id[:5]}"


def vxlan_name(state: NetworkState) -> str:
    return f"vx-{state.vni:06x}-{state.network_id[:5]}"


def port_name(address: str) -> str:
    """The bridge end of an endpoint's veth, named from its address (unique on the
    network, at most 15 characters)."""
    return "ve" + ipaddress.IPv4Address(address).packed.hex()


class Overlay:
    """The overlay networks of one host. The caller lives in the host's namespace;
    every namespace made is named with ``prefix`` so that hosts sharing a machine
    never collide. Thread-safe (one lock: changes are short and rare)."""

    def __init__(self, prefix: str, node_id: str, underlay_address: str) -> None:
        self.prefix = prefix
        self.node_id = node_id
        self.underlay_address = underlay_address
        self._lock = threading.Lock()

    # -- names --------------------------------------------------------------------------

    def sandbox(self, network_id: str) -> str:
        """The name of a network's sandbox namespace."""
        return f"{self.prefix}ov-{network_id[:10]}"

    def lb_namespace(self, state: NetworkState) -> str:
        """The name of the namespace holding the node's load-balancer endpoint on the
        network: ``lb_<id>``, or the ingress sandbox on the ingress network. The
        balancer programs its rules there (path: :func:`real.agent.netns.path`)."""
        if state.ingress:
            return f"{self.prefix}ingress_sbox"
        return f"{self.prefix}lb_{state.network_id[:9]}"

    def lb_netns_path(self, state: NetworkState) -> str:
        """The file of that namespace, for ``nsenter --net=`` or ``IPRoute(netns=)``."""
        return netns.path(self.lb_namespace(state))

    @property
    def ingress_address(self) -> str:
        """Where the host's published-port DNAT sends connections."""
        return INGRESS_ADDRESS

    def namespaces(self) -> list[str]:
        """Every namespace this overlay has made and not yet removed, sorted."""
        kinds = ("ov-", "lb_", "ingress_sbox")
        return [n for n in netns.listed(self.prefix) if n[len(self.prefix) :].startswith(kinds)]

    # -- reconcile ----------------------------------------------------------------------

    def apply(self, states: Mapping[str, NetworkState]) -> None:
        """Make the host hold exactly these networks (by network id)."""
        with self._lock:
            wanted = set()
            for state in states.values():
                wanted.add(self.sandbox(state.network_id))
                if state.load_balancer(self.node_id) is not None:
                    wanted.add(self.lb_namespace(state))
            for name in self.namespaces():
                if name not in wanted:
                    self._remove_namespace(name)
            if not any(s.ingress and s.load_balancer(self.node_id) for s in states.values()):
                netns.delete_link(None, GWBRIDGE_IF)
            for network_id in sorted(states):
                state = states[network_id]
                self._ensure_sandbox(state)
                self._ensure_load_balancer(state)

    def close(self) -> None:
        """Remove every namespace and device this overlay made."""
        self.apply({})

    def attach(self, state: NetworkState, address: str, netns_path: str, ifname: str) -> None:
        """Join the container whose namespace is ``netns_path`` to the network as
        ``ifname`` with ``address`` ("10.0.1.5/24"): a veth from the bridge, the MAC
        libnetwork derives from the address, the overlay MTU. The network's sandbox is
        built first if the state message has not come yet."""
        iface = ipaddress.IPv4Interface(address)
        sandbox = self.sandbox(state.network_id)
        port = port_name(str(iface.ip))
        with self._lock:
            if not netns.exists(sandbox):
                self._ensure_sandbox(state)
            netns.delete_link(netns_path, ifname)
            netns.delete_link(sandbox, port)
            with netns.socket(sandbox) as ipr:
                _add_veth(ipr, port, ifname, netns_path)
                (bridge,) = ipr.link_lookup(ifname=bridge_name(state))
                (index,) = ipr.link_lookup(ifname=port)
                ipr.link("set", index=index, master=bridge, state="up")
            with netns.socket(netns_path) as ipr:
                (index,) = ipr.link_lookup(ifname=ifname)
                ipr.link("set", index=index, address=mac_for(str(iface.ip)))
                ipr.addr(
                    "add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
                )
                ipr.link("set", index=index, state="up")

    def detach(self, netns_path: str, ifname: str) -> None:
        """Take ``ifname`` out of the container (its veth goes with it); nothing if
        it, or the container, is gone already."""
        with self._lock:
            netns.delete_link(netns_path, ifname)

    # -- the network's sandbox ----------------------------------------------------------

    def _ensure_sandbox(self, state: NetworkState) -> None:
        sandbox = self.sandbox(state.network_id)
        if netns.exists(sandbox) and not _has_link(sandbox, bridge_name(state)):
            # Another VNI (a network id reused): nothing in the old sandbox is right.
            self._remove_namespace(sandbox)
            self._remove_namespace(self.lb_namespace(state))
        if not netns.exists(sandbox):
            netns.create(sandbox)
        with netns.socket(sandbox) as ipr:
            bridge = self._ensure_bridge(ipr, state)
            if not ipr.link_lookup(ifname=vxlan_name(state)):
                self._create_vxlan(state, sandbox)
            (vxlan,) = ipr.link_lookup(ifname=vxlan_name(state))
            _ensure_link(ipr, vxlan, master=bridge, state="up")
            self._ensure_peers(ipr, vxlan, state)

    def _ensure_bridge(self, ipr: IPRoute, state: NetworkState) -> int:
        name = bridge_name(state)
        if not ipr.link_lookup(ifname=name):
            ipr.link("add", ifname=name, kind="bridge", mtu=OVERLAY_MTU)
        (bridge,) = ipr.link_lookup(ifname=name)
        _ensure_addresses(ipr, bridge, {(state.gateway, state.prefix_length)})
        _ensure_link(ipr, bridge, state="up")
        return int(bridge)

    def _create_vxlan(self, state: NetworkState, sandbox: str) -> None:
        """Created here and then moved, so that its UDP socket stays on the underlay."""
        name = vxlan_name(state)
        netns.delete_link(None, name)  # left by a create that died before the move
        with netns.socket() as ipr:
            ipr.link(
                "add",
                ifname=name,
                kind="vxlan",
                vxlan_id=state.vni,
                vxlan_port=VXLAN_PORT,
                vxlan_local=self.underlay_address,
                vxlan_learning=0,
                vxlan_proxy=1,
                # No one listens for misses: every peer is programmed statically.
                vxlan_l2miss=0,
                vxlan_l3miss=0,
                mtu=OVERLAY_MTU,
            )
            (index,) = ipr.link_lookup(ifname=name)
            ipr.link("set", index=index, net_ns_fd=sandbox)

    def _ensure_peers(self, ipr: IPRoute, vxlan: int, state: NetworkState) -> None:
        """Static neighbour and FDB entries for exactly the endpoints on other nodes."""
        remote = state.remote(self.node_id)
        neighbours = {(e.address, e.mac) for e in remote}
        forwarding = {(e.mac, e.host) for e in remote}
        have_neighbours = set(_neighbours(ipr, vxlan))
        have_forwarding = set(_forwarding(ipr, vxlan))
        for address, mac in sorted(have_neighbours - neighbours):
            ipr.neigh("del", ifindex=vxlan, dst=address, lladdr=mac)
        for mac, host in sorted(have_forwarding - forwarding):
            ipr.fdb("del", ifindex=vxlan, lladdr=mac, dst=host)
        for mac, host in sorted(forwarding - have_forwarding):
            # fdb()'s default state is permanent; a string here breaks it (§2.1).
            ipr.fdb("add", ifindex=vxlan, lladdr=mac, dst=host)
        for address, mac in sorted(neighbours - have_neighbours):
            ipr.neigh("replace", ifindex=vxlan, dst=address, lladdr=mac, state="permanent")

    # -- the load balancer --------------------------------------------------------------

    def _ensure_load_balancer(self, state: NetworkState) -> None:
        endpoint = state.load_balancer(self.node_id)
        name = self.lb_namespace(state)
        sandbox = self.sandbox(state.network_id)
        if endpoint is None:
            self._remove_namespace(name)
            return
        if not netns.exists(name):
            netns.create(name)
        if not (_has_link(sandbox, LB_PORT) and _has_link(name, LB_IF)):
            netns.delete_link(sandbox, LB_PORT)
            netns.delete_link(name, LB_IF)
            with netns.socket(sandbox) as ipr:
                _add_veth(ipr, LB_PORT, LB_IF, name)
        with netns.socket(sandbox) as ipr:
            (bridge,) = ipr.link_lookup(ifname=bridge_name(state))
            (port,) = ipr.link_lookup(ifname=LB_PORT)
            _ensure_link(ipr, port, master=bridge, state="up")
        addresses = {(endpoint.address, state.prefix_length)}
        addresses |= {(s.vip, 32) for s in state.services if s.vip}
        with netns.socket(name) as ipr:
            (index,) = ipr.link_lookup(ifname=LB_IF)
            _ensure_link(ipr, index, address=endpoint.mac)
            _ensure_addresses(ipr, index, addresses)
            _ensure_link(ipr, index, state="up")
        netns.sysctl(_FORWARD, "1", name)
        if state.ingress:
            self._ensure_gwbridge(name)

    def _ensure_gwbridge(self, sbox: str) -> None:
        """The ingress sandbox's link to the host, its default route through it, and
        the host's forwarding and route_localnet (DNAT of 127.0.0.1 to the sandbox)."""
        if not (_has_link(None, GWBRIDGE_IF) and _has_link(sbox, SBOX_GW_IF)):
            netns.delete_link(None, GWBRIDGE_IF)
            netns.delete_link(sbox, SBOX_GW_IF)
            with netns.socket() as ipr:
                ipr.link(
                    "add",
                    ifname=GWBRIDGE_IF,
                    kind="veth",
                    peer={"ifname": SBOX_GW_IF, "net_ns_fd": sbox},
                )
        with netns.socket() as ipr:
            (index,) = ipr.link_lookup(ifname=GWBRIDGE_IF)
            _ensure_addresses(ipr, index, {(GWBRIDGE_ADDRESS, GWBRIDGE_PREFIXLEN)})
            _ensure_link(ipr, index, state="up")
        with netns.socket(sbox) as ipr:
            (index,) = ipr.link_lookup(ifname=SBOX_GW_IF)
            _ensure_addresses(ipr, index, {(INGRESS_ADDRESS, GWBRIDGE_PREFIXLEN)})
            _ensure_link(ipr, index, state="up")
            if not _has_default_route(ipr, GWBRIDGE_ADDRESS):
                ipr.route("replace", dst="0.0.0.0/0", gateway=GWBRIDGE_ADDRESS)
        netns.sysctl(_FORWARD, "1")
        netns.sysctl(f"net/ipv4/conf/{GWBRIDGE_IF}/route_localnet", "1")

    # -- removal ------------------------------------------------------------------------

    def _remove_namespace(self, name: str) -> None:
        """Delete the namespace's devices first (a VXLAN device's socket and a veth's
        host end go now, not whenever the kernel frees the namespace), then it."""
        if not netns.exists(name):
            return
        with netns.socket(name) as ipr:
            for link in ipr.get_links():
                if link.get_attr("IFLA_IFNAME") != "lo":
                    with contextlib.suppress(NetlinkError):
                        ipr.link("del", index=link["index"])
        netns.remove(name)


# -- netlink helpers: read first, change only what differs ------------------------------

_IFF_UP = 0x1


def _add_veth(ipr: IPRoute, port: str, peer: str, peer_netns: str) -> None:
    """A veth at the overlay's MTU: ``port`` here (a bridge port to be), ``peer`` born
    in ``peer_netns`` (a name or a path)."""
    ipr.link(
        "add",
        ifname=port,
        kind="veth",
        mtu=OVERLAY_MTU,
        peer={"ifname": peer, "net_ns_fd": peer_netns, "mtu": OVERLAY_MTU},
    )


def _has_link(namespace: str | None, ifname: str) -> bool:
    if namespace is not None and not netns.exists(namespace):
        return False
    with netns.socket(namespace) as ipr:
        return bool(ipr.link_lookup(ifname=ifname))


def _ensure_link(ipr: IPRoute, index: int, **wanted: object) -> None:
    """Set ``master``, ``address`` or ``state="up"`` on a link where they differ."""
    (link,) = ipr.link("get", index=index)
    have = {
        "master": link.get_attr("IFLA_MASTER"),
        "address": link.get_attr("IFLA_ADDRESS"),
        "state": "up" if link["flags"] & _IFF_UP else "down",
    }
    changes = {key: value for key, value in wanted.items() if have[key] != value}
    if changes:
        ipr.link("set", index=index, **changes)


def _ensure_addresses(ipr: IPRoute, index: int, wanted: set[tuple[str, int]]) -> None:
    """Exactly these IPv4 addresses (address, prefix length) on the link."""
    have = {
        (str(a.get_attr("IFA_ADDRESS")), int(a["prefixlen"]))
        for a in ipr.get_addr(family=_ADDRESS_FAMILY, index=index)
    }
    for address, prefixlen in sorted(have - wanted):
        ipr.addr("del", index=index, address=address, prefixlen=prefixlen)
    for address, prefixlen in sorted(wanted - have):
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)


def _neighbours(ipr: IPRoute, index: int) -> list[tuple[str, str]]:
    """The permanent IPv4 neighbours on a link: (address, MAC)."""
    return sorted(
        (str(n.get_attr("NDA_DST")), str(n.get_attr("NDA_LLADDR")))
        for n in ipr.neigh("dump", family=_ADDRESS_FAMILY)
        if n["ifindex"] == index and n["state"] & _NUD_PERMANENT and n.get_attr("NDA_LLADDR")
    )


def _forwarding(ipr: IPRoute, index: int) -> list[tuple[str, str]]:
    """The VXLAN device's own FDB entries with a remote: (MAC, tunnel endpoint)."""
    return sorted(
        (str(f.get_attr("NDA_LLADDR")), str(f.get_attr("NDA_DST")))
        for f in ipr.fdb("dump", ifindex=index)
        if f["ifindex"] == index and f.get_attr("NDA_DST")
    )


def _has_default_route(ipr: IPRoute, gateway: str) -> bool:
    return any(
        r["dst_len"] == 0 and r.get_attr("RTA_GATEWAY") == gateway
        for r in ipr.route("dump", family=_ADDRESS_FAMILY, table=254)
    )
