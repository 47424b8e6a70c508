"""IP address management for overlay networks: subnets from the default pool, and
addresses (gateways, service VIPs, task addresses) within each subnet.

Swarm's defaults: the pool 10.0.0.0/8 is carved into /24 subnets, the lowest free
one first (the ingress network takes 10.0.0.0/24 when it is made first); a subnet's
first address is its gateway; addresses are handed out *serially*, the next free
one after the last handed out, wrapping round (libnetwork's ``AllocSerialPrefix``,
which SwarmKit sets so that an address just released is not reused at once). A /24
holds 253 addresses besides the gateway, which is the "IP exhaustion" users meet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import ShoalError

DEFAULT_POOL = "10.0.0.0/8"
DEFAULT_SUBNET_PREFIX = 24


class PoolExhausted(ShoalError):
    def __init__(self) -> None:
        super().__init__(
            "could not find an available, non-overlapping IPv4 address pool among the "
            "defaults to assign to the network"
        )


class SubnetOverlap(ShoalError):
    def __init__(self, requested: str, existing: str) -> None:
        super().__init__(
            "invalid pool request: Pool overlaps with other one on this address space "
            f"({requested} overlaps {existing})"
        )


class AddressesExhausted(ShoalError):
    def __init__(self, network: str) -> None:
        super().__init__(f"no available IPv4 addresses on this network's address pools: {network}")


@dataclass(slots=True)
class Subnet:
    """One network's subnet: its gateway and the addresses in use."""

    network: ipaddress.IPv4Network
    name: str
    used: set[int] = field(default_factory=set)  # host offsets from the network address
    last: int = 1  # the offset handed out last (the gateway to begin with)

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.network.network_address + 1

    def allocate(self, requested: str | None = None) -> ipaddress.IPv4Address:
        """A free address: ``requested`` if given and free, else the next one after
        the last handed out."""
        if requested is not None:
            address = ipaddress.IPv4Address(requested)
            offset = self._free(address)
            if offset is None:
                raise AddressesExhausted(self.name)
            self.used.add(offset)
            return address
        hosts = self.network.num_addresses
        for step in range(1, hosts + 1):  # ending on the last one handed out
            offset = (self.last + step) % hosts
            if self._usable(offset) and offset not in self.used:
                self.used.add(offset)
                self.last = offset
                return self.network.network_address + offset
        raise AddressesExhausted(self.name)

    def hold(self, address: ipaddress.IPv4Address) -> bool:
        """Hold an address handed out before (one kept, or taken back by a new
        leader): False if it is not one of this subnet's or is held already."""
        offset = self._free(address)
        if offset is None:
            return False
        self.used.add(offset)
        return True

    def resume(self) -> None:
        """After a restore: go on handing out after the highest address held (the
        serial order's best guess at where the last leader stopped)."""
        self.last = max(self.used, default=1)

    def release(self, address: ipaddress.IPv4Address) -> None:
        self.used.discard(int(address) - int(self.network.network_address))

    def _free(self, address: ipaddress.IPv4Address) -> int | None:
        """The address's offset if it is a usable one of this subnet and free."""
        offset = int(address) - int(self.network.network_address)
        if address not in self.network or not self._usable(offset) or offset in self.used:
            return None
        return offset

    def _usable(self, offset: int) -> bool:
        # Not the network address, the gateway (offset 1) or the broadcast address.
        return 1 < offset < self.network.num_addresses - 1


class AddressPool:
    """Subnets carved from the swarm's default address pools (``swarm init
    --default-addr-pool``, in the order given), lowest free first; explicit subnets
    may lie anywhere but never overlap another network's."""

    def __init__(
        self, base: str | Sequence[str] = DEFAULT_POOL, prefix: int = DEFAULT_SUBNET_PREFIX
    ) -> None:
        self.bases: tuple[ipaddress.IPv4Network, ...] = ()
        self.prefix = prefix
        self.subnets: dict[str, Subnet] = {}  # network id -> its subnet
        self.configure(base, prefix)

    def configure(self, base: str | Sequence[str], prefix: int) -> None:
        """Carve new subnets from these pools from now on (the cluster's, once it
        exists); subnets handed out stay."""
        bases = (base,) if isinstance(base, str) else tuple(base) or (DEFAULT_POOL,)
        self.bases = tuple(ipaddress.IPv4Network(b) for b in bases)
        self.prefix = prefix

    def allocate(self, network_id: str, name: str, requested: str | None = None) -> Subnet:
        if requested is not None:
            wanted = ipaddress.IPv4Network(requested, strict=False)
            for other in self.subnets.values():
                if wanted.overlaps(other.network):
                    raise SubnetOverlap(str(wanted), str(other.network))
        else:
            wanted = self._lowest_free()
        subnet = self.subnets[network_id] = Subnet(wanted, name)
        return subnet

    def restore(self, network_id: str, name: str, cidr: str) -> Subnet | None:
        """Take back a subnet a network was given before (a new leader's restore);
        None if it overlaps one taken back already."""
        network = ipaddress.IPv4Network(cidr, strict=False)
        if any(network.overlaps(other.network) for other in self.subnets.values()):
            return None
        subnet = self.subnets[network_id] = Subnet(network, name)
        return subnet

    def release(self, network_id: str) -> None:
        self.subnets.pop(network_id, None)

    def _lowest_free(self) -> ipaddress.IPv4Network:
        for base in self.bases:
            taken = sorted(s.network for s in self.subnets.values() if s.network.overlaps(base))
            for candidate in base.subnets(new_prefix=max(self.prefix, base.prefixlen)):
                if not any(candidate.overlaps(t) for t in taken):
                    return candidate
        raise PoolExhausted()
