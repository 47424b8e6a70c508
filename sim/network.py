"""The simulated network: latency, jitter, loss, duplication, reordering, partitions.

Connectivity is a directed graph (networkx) over host names: an edge ``a -> b``
means ``a`` can reach ``b``, so one-way cuts, bridges and majorities rings are just
graphs. A message is delivered by one scheduled callback (not a SimPy process per
message, which is about six times slower). A link cut while a message is in flight
loses it, as a broken connection would (one cut and healed while
the message flies does not).

With ``wire`` on (``--strict-codec``), every message crosses as bytes through the
real codec, so nothing relies on sharing Python objects. Off, messages are passed as
values, which every message type allows by being deeply immutable (a test walks them
all: tests/sim/test_messages_immutable.py) but those ``by_codec`` picks (the ones
that carry arbitrary API values); every ``codec_check_every``-th message still goes
through the codec, and must come back equal (:class:`CodecMismatch`), so a value the
codec cannot carry is found in any run. Which messages are checked
follows a counter, not a random draw: a run's trace does not depend on the check.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import simpy

from core.raft.codec import decode_message, encode_message
from sim.faults.topology import full


@dataclass(frozen=True)
class LinkModel:
    """One direction of a link. The default is a quiet LAN: 0.2 ms plus an
    exponential tail of mean 0.1 ms, nothing lost or repeated."""

    latency_min: float = 0.0002
    latency_mean_extra: float = 0.0001
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0  # chance of an extra delay of up to ``reorder_delay``
    reorder_delay: float = 0.005

    def plain(self) -> LinkModel:
        """This link's latency alone: nothing lost, repeated or reordered."""
        return replace(self, loss=0.0, duplicate=0.0, reorder=0.0)

    def delay(self, rng: random.Random) -> float:
        delay = self.latency_min + rng.expovariate(1.0 / self.latency_mean_extra)
        if self.reorder and rng.random() < self.reorder:
            delay += rng.uniform(0.0, self.reorder_delay)
        return delay


@dataclass(frozen=True)
class HostFault:
    """What a scenario's ``loss``, ``duplicate`` and ``delay`` put on one host, as the
    real test hosts' nftables rules and transport do: ``loss`` of what it sends and
    of what is sent to it (a rule each way on its interface), ``duplicate`` of what
    it sends and ``delay`` (seconds) added to what it sends (both on its way out)."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0

    def idle(self) -> bool:
        return not (self.loss or self.duplicate or self.delay)


NO_FAULT = HostFault()

Receiver = Callable[[Any], None]

#: Every how many messages passed as values one is sent through the codec to check it.
CODEC_CHECK_EVERY = 64


class CodecMismatch(AssertionError):
    """A message did not survive the wire codec unchanged: passed as a value, it
    would have behaved differently from real mode's bytes."""


@dataclass
class Network:
    env: simpy.Environment
    rng: random.Random
    hosts: list[str]
    model: LinkModel = field(default_factory=LinkModel)
    wire: bool = True
    # with ``wire`` off: every how many messages one is checked through the codec
    # (0: never), and which messages cross as bytes all the same (None: none)
    codec_check_every: int = 0
    by_codec: Callable[[Any], bool] | None = None
    links: dict[tuple[str, str], LinkModel] = field(default_factory=dict)  # overrides
    receivers: dict[str, Receiver] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    burst_loss: float = 0.0  # extra loss and duplication a nemesis switches on
    burst_duplicate: float = 0.0
    # the scenario's faults on single hosts, and the stream their draws come from (its
    # own: the draws of ``rng`` stay those of a run without them)
    host_faults: dict[str, HostFault] = field(default_factory=dict)
    fault_rng: random.Random | None = None
    # how a message becomes bytes and back (Raft's codec unless told otherwise)
    encode: Callable[[Any], bytes] = encode_message
    decode: Callable[[bytes], Any] = decode_message

    def __post_init__(self) -> None:
        self.graph: nx.DiGraph = full(self.hosts)
        self._blocked: frozenset[tuple[str, str]] = frozenset()
        self._values_sent = 0

    # -- connectivity ----------------------------------------------------------------

    def set_graph(self, graph: nx.DiGraph) -> None:
        """Only the edges of ``graph`` carry messages from now on."""
        names = sorted(self.hosts)
        self.graph = graph
        self._blocked = frozenset(
            (a, b) for a in names for b in names if a != b and not graph.has_edge(a, b)
        )

    def heal(self) -> None:
        self.set_graph(full(self.hosts))

    def clean(self) -> None:
        """Heal, end the bursts, and take loss, duplication and reordering off the
        model and every per-link override, keeping their latencies: the network of
        a liveness phase."""
        self.heal()
        self.burst_loss = self.burst_duplicate = 0.0
        self.host_faults.clear()
        self.model = self.model.plain()
        self.links = {pair: model.plain() for pair, model in sorted(self.links.items())}

    def set_host_fault(self, host: str, fault: HostFault) -> None:
        """``host``'s links carry ``fault`` from now on (:data:`NO_FAULT`: none)."""
        if fault.idle():
            self.host_faults.pop(host, None)
        else:
            assert self.fault_rng is not None, "a host fault needs the network's fault_rng"
            self.host_faults[host] = fault

    def add_host(self, name: str) -> None:
        self.hosts = sorted({*self.hosts, name})
        self.heal()

    def reachable(self, source: str, target: str) -> bool:
        return (source, target) not in self._blocked

    def blocked_links(self) -> list[tuple[str, str]]:
        return sorted(self._blocked)

    # -- traffic -----------------------------------------------------------------------

    def send(self, source: str, target: str, message: Any) -> None:
        self.stats["sent"] += 1
        if (source, target) in self._blocked:
            self.stats["cut"] += 1
            return
        model = self.links.get((source, target), self.model)
        rng = self.rng
        loss = model.loss + self.burst_loss
        if loss and rng.random() < loss:
            self.stats["lost"] += 1
            return
        if self.host_faults:
            self._send_faulted(source, target, message, model)
            return
        payload = self._payload(message)
        self._schedule(source, target, payload, model.delay(rng))
        duplicate = model.duplicate + self.burst_duplicate
        if duplicate and rng.random() < duplicate:
            self.stats["duplicated"] += 1
            self._schedule(source, target, payload, model.delay(rng))

    def _send_faulted(self, source: str, target: str, message: Any, model: LinkModel) -> None:
        """:meth:`send`'s rest while some host has a fault: the sender's and the
        receiver's loss each drawn once (a rule on each one's interface), the sender's
        delay added, its duplication drawn after the link's own."""
        sender = self.host_faults.get(source, NO_FAULT)
        draw = self.fault_rng
        assert draw is not None
        for loss in (sender.loss, self.host_faults.get(target, NO_FAULT).loss):
            if loss and draw.random() < loss:
                self.stats["lost"] += 1
                return
        payload = self._payload(message)
        self._schedule(source, target, payload, model.delay(self.rng) + sender.delay)
        duplicate = model.duplicate + self.burst_duplicate
        if duplicate and self.rng.random() < duplicate:
            self.stats["duplicated"] += 1
            self._schedule(source, target, payload, model.delay(self.rng) + sender.delay)
        if sender.duplicate and draw.random() < sender.duplicate:
            self.stats["duplicated"] += 1
            self._schedule(source, target, payload, model.delay(draw) + sender.delay)

    def _payload(self, message: Any) -> Any:
        """What crosses: the bytes, or the message itself (every so often checked)."""
        if self.wire or (self.by_codec is not None and self.by_codec(message)):
            return self.encode(message)
        self._values_sent += 1
        every = self.codec_check_every
        if every and self._values_sent % every == 0:
            try:
                back = self.decode(self.encode(message))
            except Exception as error:
                raise CodecMismatch(f"the codec cannot carry {message!r}: {error}") from error
            if back != message:
                raise CodecMismatch(f"{message!r} came back from the codec as {back!r}")
        return message

    def _schedule(self, source: str, target: str, payload: Any, delay: float) -> None:
        event = self.env.timeout(delay)
        event.callbacks.append(lambda _event: self._arrive(source, target, payload))

    def _arrive(self, source: str, target: str, payload: Any) -> None:
        if (source, target) in self._blocked:
            self.stats["cut"] += 1
            return
        message = self.decode(payload) if isinstance(payload, bytes) else payload
        self.stats["delivered"] += 1
        self.receivers[target](message)
