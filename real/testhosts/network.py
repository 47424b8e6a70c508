"""The test hosts' underlay: one bridge namespace, one namespace per host, veths between.

The bridge lives in a namespace of its own, not in the root one: a dockerd started in the
root namespace with iptables on sets the FORWARD policy to DROP and keeps it, which would
silently drop bridged traffic between hosts (real-backend.md §7). Every veth is created
inside the bridge namespace with its peer born in the host's namespace, so nothing of a run
ever touches the root namespace and removing the namespaces removes every device.

Hosts get an address on one private subnet, an on-link route to it, loopback up, and no
default route: a test host can reach the other test hosts and nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

from pyroute2 import IPRoute, netns

NETNS_DIR = Path("/var/run/netns")
#: The default test subnet: private, and unlikely to be in use on a developer's machine.
DEFAULT_SUBNET = "10.231.0.0/24"
BRIDGE = "br0"
#: The host side of each veth is ``eth0``, as on a VM.
HOST_IF = "eth0"


def netns_path(name: str) -> str:
    return str(NETNS_DIR / name)


def namespaces() -> list[str]:
    """Every named network namespace on the machine."""
    return sorted(str(name) for name in netns.listnetns())


def create_namespace(name: str) -> None:
    netns.create(name)
    with IPRoute(netns=name, flags=0) as ipr:
        (lo,) = ipr.link_lookup(ifname="lo")
        ipr.link("set", index=lo, state="up")


def remove_namespace(name: str) -> None:
    """Delete a named namespace; one already gone is no error. Parallel pytest-xdist
    workers each sweep a dead run at session start, so another may unlink the name
    between any look and this removal."""
    with contextlib.suppress(FileNotFoundError):
        netns.remove(name)


def host_address(subnet: str, index: int) -> str:
    """Host ``index`` (1-based) gets the subnet's ``index``-th address."""
    net = ipaddress.ip_network(subnet)
    if not 1 <= index < net.num_addresses - 1:
        raise ValueError(f"subnet {subnet} has no room for host {index}")
    return str(net.network_address + index)


def create_bridge(bridge_ns: str) -> None:
    """The bridge namespace with its bridge up (no address: it only switches)."""
    create_namespace(bridge_ns)
    with IPRoute(netns=bridge_ns, flags=0) as ipr:
        ipr.link("add", ifname=BRIDGE, kind="bridge")
        (br,) = ipr.link_lookup(ifname=BRIDGE)
        ipr.link("set", index=br, state="up")


def attach_host(bridge_ns: str, host_ns: str, veth: str, address: str, prefixlen: int) -> None:
    """Wire ``host_ns`` (already created) to the bridge and give it ``address``."""
    with IPRoute(netns=bridge_ns, flags=0) as ipr:
        ipr.link("add", ifname=veth, kind="veth", peer={"ifname": HOST_IF, "net_ns_fd": host_ns})
        (br,) = ipr.link_lookup(ifname=BRIDGE)
        (port,) = ipr.link_lookup(ifname=veth)
        ipr.link("set", index=port, master=br, state="up")
    with IPRoute(netns=host_ns, flags=0) as ipr:
        (eth,) = ipr.link_lookup(ifname=HOST_IF)
        ipr.addr("add", index=eth, address=address, prefixlen=prefixlen)
        ipr.link("set", index=eth, state="up")


def links(name: str | None = None) -> list[str]:
    """The interface names in namespace ``name`` (the root one if None)."""
    with IPRoute() if name is None else IPRoute(netns=name, flags=0) as ipr:
        return sorted(str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links())
