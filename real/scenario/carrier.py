"""What carries a scenario's faults out on real hosts, and what it can tell.

Two carriers: test hosts on this machine (real/scenario/testbed.py) and daemons
already running elsewhere, driven by an inventory's shell commands
(real/scenario/inventory.py). The runner speaks to both through :class:`Carrier`.
"""

from __future__ import annotations

from typing import Protocol

from real.scenario.shape import HostShape

#: Host faults a real carrier may carry out (``heal`` takes no host; ``kill`` takes a
#: task, on the host that runs it).
HOST_FAULTS = ("crash", "boot", "restart", "isolate", "heal", "pause", "resume", "kill")
#: Faults with an amount (:meth:`Carrier.fault`; 0 ends one).
AMOUNT_FAULTS = ("loss", "duplicate", "delay", "skew", "stall-disk")
#: Every fault a real run carries out (``partition`` by :meth:`Carrier.shape`, as
#: ``isolate`` and ``heal`` are).
REAL_FAULTS = (*HOST_FAULTS, "partition", *AMOUNT_FAULTS)


class FaultFailed(Exception):
    """A fault could not strike (no such task running, a command that failed): the
    scenario's step fails with this message."""


class Carrier(Protocol):
    #: The scenario's hosts, in its order: (name, manager?).
    hosts: tuple[tuple[str, bool], ...]

    def refusal(self, verb: str, host: str) -> str:
        """Why the fault ``verb`` cannot strike ``host`` (a name, ``leader``, ``a
        worker``, or "" for any host), or "" when it can."""
        ...

    def socket(self, host: str) -> str:
        """The path of the host's daemon's control socket."""
        ...

    def strike(self, verb: str, host: str, task_id: str = "") -> None:
        """Carry out ``crash``, ``boot``, ``restart``, ``pause``, ``resume`` or ``kill``
        (the container of ``task_id``) on ``host``; raises :class:`FaultFailed`."""
        ...

    def shape(self, host: str, held: HostShape, wanted: HostShape) -> None:
        """``host``'s isolation and one-way cuts are ``held``; make them exactly
        ``wanted`` (its loss and duplication stay). Raises :class:`FaultFailed`."""
        ...

    def fault(self, verb: str, host: str, amount: float) -> None:
        """One of :data:`AMOUNT_FAULTS` on ``host``, 0 ending it: ``loss`` and
        ``duplicate`` a share (0 to 1) of its packets, ``delay`` seconds added to
        what it sends, ``skew`` a step of its wall clock in seconds (0: back on its
        own course), ``stall-disk`` 1 to stall its log. Raises :class:`FaultFailed`."""
        ...

    def containers_on(self, host: str) -> int | None:
        """Task containers running on ``host`` now, or None when the carrier cannot
        see them (the leader's view of the node's tasks stands in)."""
        ...

    def request(self, host: str, task_id: str, target: str, port: int, count: int) -> list[str]:
        """``count`` HTTP requests, one after the other, to ``target:port`` (an address,
        or a name the embedded DNS resolves), from the sandbox of ``task_id`` on
        ``host``; with no task, from ``host`` itself to its own address. Each
        answer's body ("" where none came)."""
        ...

    def resolve(self, host: str, task_id: str, name: str) -> tuple[str, ...] | None:
        """What the embedded DNS answers ``task_id``'s sandbox on ``host`` for
        ``name`` (None: no such name, or no such sandbox)."""
        ...
