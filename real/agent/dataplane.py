"""One real host's data plane: the mirror of sim/dataplane.py, with the overlay
devices (overlay.py), the load balancers (balancer.py, ipvs.py) and the embedded
DNS (dns.py) doing what the simulator only records.

The agent hands the host the networks it needs (:meth:`HostDataplane.program`);
a task's sandbox joins its networks when its container is made
(:meth:`HostDataplane.attach`) and leaves them when it goes
(:meth:`HostDataplane.detach`). A sandbox with host-mode published ports is also
joined to the host namespace, which publishes them (hostports.py). Calls block
(netlink, nft) and are serialised by one lock: the driver calls ``program`` from a
worker thread, the executor calls ``attach`` and ``detach`` from its own.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Mapping, Sequence

from core.dataplane.balance import tables
from core.dataplane.state import NetworkState
from core.dispatcher.networks import bare_state
from core.model.service import PortConfig
from core.model.task import Task
from real.agent.balancer import Balancer, HostIngress, for_kernel
from real.agent.dns import EmbeddedDns
from real.agent.hostports import HostPorts
from real.agent.overlay import INGRESS_ADDRESS, Overlay

log = logging.getLogger(__name__)


def interface_name(index: int) -> str:
    """A task's interface on its ``index``-th network, in attachment order (eth0
    first, as Docker's)."""
    return f"eth{index}"


class HostDataplane:
    def __init__(
        self,
        prefix: str,
        underlay_address: str,
        *,
        balancer: Balancer | None = None,
        dns: EmbeddedDns | None = None,
    ) -> None:
        self.prefix = prefix
        self.underlay = underlay_address
        self.balancer = balancer or for_kernel()
        self._dns = dns  # made on first use: it runs a thread
        self.ingress = HostIngress(INGRESS_ADDRESS)
        self.host_netns = f"/proc/{os.getpid()}/ns/net"
        self.host_ports = HostPorts()
        self.node_id = ""
        self.overlay: Overlay | None = None
        self.states: dict[str, NetworkState] = {}
        self._lock = threading.Lock()
        self._joined: dict[str, tuple[str, ...]] = {}  # task id -> its networks, in order
        # The state each joined network was last built from, for those the agent's
        # word leaves out while a task is still on them (a word sent before the task
        # joined, or one that ran late): its sandbox stays until the task leaves.
        self._built: dict[str, NetworkState] = {}

    # -- the agent's word ------------------------------------------------------------------

    def program(self, node_id: str, states: Mapping[str, NetworkState]) -> None:
        """Program exactly ``states`` (by network id): devices and peers, then every
        balancer table of the node, then the host's routing-mesh rules."""
        with self._lock:
            overlay = self._overlay(node_id)
            self.states = dict(states)
            self._built.update(self.states)
            overlay.apply(self._with_joined())
            meshed = False
            for table in tables(self.states.values(), node_id):
                state = self.states[table.network_id]
                self.balancer.program(overlay.lb_netns_path(state), table)
                if table.ingress:
                    self.ingress.program(self.host_netns, table)
                    meshed = True
            if not meshed:
                self.ingress.clear(self.host_netns)

    def _with_joined(self) -> dict[str, NetworkState]:
        """The states to build: the agent's, and the networks joined tasks are on."""
        wanted = dict(self.states)
        for network_id in sorted({n for joined in self._joined.values() for n in joined}):
            if network_id not in wanted and network_id in self._built:
                wanted[network_id] = self._built[network_id]
        self._built = {n: self._built[n] for n in sorted(self._built) if n in wanted}
        return wanted

    def has_joined(self, task_id: str) -> bool:
        """The task's sandbox was joined to its networks by this process."""
        with self._lock:
            return task_id in self._joined

    def _overlay(self, node_id: str) -> Overlay:
        if self.overlay is None or node_id != self.node_id:
            self.node_id = node_id
            self.overlay = Overlay(self.prefix, node_id, self.underlay)
        return self.overlay

    # -- tasks -------------------------------------------------------------------------------

    def attach(self, task: Task, netns_path: str, ports: Sequence[PortConfig] = ()) -> None:
        """Join the task's sandbox to each of its networks (eth0, eth1, ... in the
        order of its attachments) and serve its embedded DNS; with host-mode
        ``ports`` (as the executor bound them), join it to the host too, on the next
        interface, and publish them there."""
        with self._lock:
            overlay = self._overlay(self.node_id or task.node_id)
            joined: list[str] = []
            for index, attachment in enumerate(task.networks_attachments):
                network = attachment.network
                state = self.states.get(network.id) or bare_state(network)
                if state is None or not attachment.addresses:
                    continue
                address = attachment.addresses[0]
                ipaddress.IPv4Interface(address)  # a malformed one fails here, not in netlink
                overlay.attach(state, address, netns_path, interface_name(index))
                self._built.setdefault(network.id, state)
                joined.append(network.id)
            self._joined[task.id] = tuple(joined)
        if ports:
            ifname = interface_name(len(task.networks_attachments))
            self.host_ports.attach(task.id, netns_path, ports, ifname)
        if joined:
            self._resolver().add(task.id, netns_path, lambda: self._resolvable(task.id))

    def detach(self, task_id: str) -> None:
        """The task's sandbox is going: stop serving its DNS and publishing its host
        ports (its interfaces go with its namespace)."""
        self.host_ports.detach(task_id)
        with self._lock:
            joined = self._joined.pop(task_id, None)
        if joined and self._dns is not None:
            self._dns.remove(task_id)
        with self._lock:
            if self.overlay is not None and any(n not in self.states for n in joined or ()):
                try:
                    self.overlay.apply(self._with_joined())  # the last task on it has left
                except Exception:  # the next program removes it
                    log.exception("removing a network its last task left failed")

    def _resolver(self) -> EmbeddedDns:
        with self._lock:
            if self._dns is None:
                self._dns = EmbeddedDns()
            return self._dns

    def _resolvable(self, task_id: str) -> Sequence[NetworkState]:
        """The states the task's resolver answers from: its networks but ingress."""
        states = self.states
        return [
            states[n]
            for n in self._joined.get(task_id, ())
            if n in states and not states[n].ingress
        ]

    # -- life --------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove everything this host's data plane made."""
        if self._dns is not None:
            self._dns.close()
        with self._lock:
            if self.overlay is not None:
                self.overlay.close()
            self.ingress.clear(self.host_netns)
            self.states = {}
            self._built = {}
        self.host_ports.close()
