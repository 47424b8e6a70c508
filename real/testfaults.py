"""Test-only control requests: the faults of a scenario that only the daemon itself can
carry out on test hosts (``delay``, ``skew``, ``stall-disk``; loss, duplication and cuts
are nftables rules the test hosts write, outside it).

A request ``TestFault`` with ``{"fault": NAME, "amount": NUMBER}`` reaches the daemon
over its control socket (real/control.py). It is refused unless the daemon was started
with :data:`FLAG`, which only the test hosts pass: a daemon in production must not let
a client slow its messages, move its clock or hang its log. ``amount`` 0 ends the fault:

- ``delay``: every message to another host waits ``amount`` seconds before it is sent;
- ``skew``: the node's wall clock steps ``amount`` seconds (either way; they add up), as
  an NTP step would; 0 puts it back on the machine's own clock;
- ``stall-disk``: the WAL's writes and fsyncs hang while ``amount`` is not 0.

The answer is the daemon's fault state afterwards (``delay``, ``offset``, ``stalled``)
and its wall clock (``wall``), which tests read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.manager.requests import ClientReply
from real.stallfiles import StallingFiles

if TYPE_CHECKING:
    from real.driver import Driver

TEST_FAULT = "TestFault"
FLAG = "--allow-test-faults"
FAULTS = ("delay", "skew", "stall-disk")
#: The largest delay or clock step a request may ask for, in seconds.
MOST_SECONDS = 86400.0 * 365


def test_faults_off() -> ClientReply:
    """The answer of a daemon started without :data:`FLAG`."""
    return ClientReply(
        "",
        False,
        error=f"test faults are off: this daemon was not started with {FLAG}",
        code="FailedPrecondition",
    )


class TestFaults:
    """What the test-only requests may change in one daemon."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, driver: Driver, files: StallingFiles) -> None:
        self.driver, self.files = driver, files

    def state(self) -> dict[str, Any]:
        return {
            "delay": self.driver.send_delay,
            "offset": self.driver.clock.offset,
            "stalled": self.files.stalled,
            "wall": self.driver.clock.wall(),
        }

    def answer(self, params: Mapping[str, Any]) -> ClientReply:
        """Carry out one request; its state afterwards, or why it was refused."""
        fault, amount = params.get("fault"), params.get("amount")
        if fault not in FAULTS:
            return _invalid(f"fault must be one of {', '.join(FAULTS)}, not {fault!r}")
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            return _invalid(f"amount must be a number, not {amount!r}")
        seconds = float(amount)
        if not abs(seconds) <= MOST_SECONDS or (fault == "delay" and seconds < 0):
            return _invalid(f"{fault}: {amount!r} is out of range")
        if fault == "delay":
            self.driver.send_delay = seconds
        elif fault == "skew" and seconds:
            self.driver.clock.step(seconds)
        elif fault == "skew":
            self.driver.clock.reset()
        elif seconds:
            self.files.stall()
        else:
            self.files.unstall()
        return ClientReply("", True, self.state())

    def end(self) -> None:
        """The daemon stops: a stalled log must let its last writes through."""
        self.files.unstall()


def _invalid(problem: str) -> ClientReply:
    return ClientReply("", False, error=f"test fault: {problem}", code="InvalidArgument")
