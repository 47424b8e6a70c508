"""VXLAN network identifiers for overlay networks (libnetwork's ``ovmanager``).

The swarm's allocator hands out VNIs from 4096 up to 2^24 - 1 (lower ones are the
local driver's), serially: the next free one after the last handed out, wrapping
round, so that an identifier just released is not reused at once and a stale
VXLAN device elsewhere cannot pick up a new network's frames. The ingress network,
made first, gets 4096. The VNI is the network's driver state, as Docker shows it:
``"com.docker.network.driver.overlay.vxlanid_list": "4096"``.
"""

from __future__ import annotations

from core.errors import ShoalError
from core.model.common import Driver
from core.model.network import Network
from core.model.wire import Labels

VNI_MIN, VNI_MAX = 4096, 2**24 - 1
VXLAN_ID_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
OVERLAY = "overlay"


class VnisExhausted(ShoalError):
    def __init__(self) -> None:
        super().__init__("could not obtain vxlan id for network: id space exhausted")


def network_vni(network: Network) -> int | None:
    """The VNI the allocator gave the network (None: none yet, or no overlay)."""
    text = network.driver_state.options.get(VXLAN_ID_OPTION, "")
    first = text.split(",")[0]
    return int(first) if first.isdigit() else None


def overlay_driver(vni: int) -> Driver:
    return Driver(name=OVERLAY, options=Labels({VXLAN_ID_OPTION: str(vni)}))


class VniAllocator:
    """The VNIs in use, by network id."""

    def __init__(self) -> None:
        self.held: dict[str, int] = {}
        self._used: set[int] = set()
        self.last = VNI_MIN - 1

    def allocate(self, network_id: str) -> int:
        if network_id in self.held:
            return self.held[network_id]
        span = VNI_MAX - VNI_MIN + 1
        for step in range(1, span + 1):
            candidate = VNI_MIN + (self.last - VNI_MIN + step) % span
            if candidate not in self._used:
                return self._take(network_id, candidate)
        raise VnisExhausted()

    def restore(self, network_id: str, vni: int) -> bool:
        """Hold a VNI handed out before (a new leader's restore); False if it is
        out of range or another network holds it."""
        if not VNI_MIN <= vni <= VNI_MAX or vni in self._used or network_id in self.held:
            return False
        self._take(network_id, vni)
        self.last = max(self.last, vni)
        return True

    def release(self, network_id: str) -> None:
        vni = self.held.pop(network_id, None)
        if vni is not None:
            self._used.discard(vni)

    def _take(self, network_id: str, vni: int) -> int:
        self.held[network_id] = vni
        self._used.add(vni)
        self.last = vni
        return vni
