"""Unit tests for the simulator's small kernel modules, each on its own.

Covered: sim/clock.py (HostClock: drift, skew, re-anchoring, the mono inverse, a
starting offset and drift and the reset back onto them), core/raft/ticker.py (Go
ticker semantics: one tick per advance, phase kept after a stall, the rounding
tolerance), sim/faults/topology.py (every partition builder), sim/network.py
(latency, loss, duplication, cuts at send and in flight, heal, the liveness phase's
clean network, the wire round trip, stats), sim/disk.py (group commit, crashes with
and without power loss, wipe, the on_write hook), sim/streams.py (independent named
streams) and sim/trace.py (canonical lines and their hash). FaultEngine needs a
whole world and is left to tests/sim/test_world.py and test_world_parts.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random

import networkx as nx
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidSpec
from core.raft.storage import PersistentState
from core.raft.ticker import Ticker
from core.raft.types import DurableWrite, Entry, HardState, Message, MessageType
from sim.clock import WALL_EPOCH, HostClock
from sim.disk import DiskModel, SimDisk
from sim.faults import topology
from sim.network import LinkModel, Network
from sim.streams import Streams
from sim.trace import Trace

# -- sim/clock.py ----------------------------------------------------------------------


def test_clock_starts_at_zero_mono_and_the_wall_epoch() -> None:
    clock = HostClock()
    assert clock.mono(0.0) == 0.0
    assert clock.wall(0.0) == WALL_EPOCH
    assert clock.mono(12.5) == 12.5
    assert clock.wall(12.5) == WALL_EPOCH + 12.5
    assert clock.offset(12.5) == 0.0


def test_drift_moves_both_clocks_at_the_same_rate() -> None:
    clock = HostClock(drift_ppm=1000.0)  # 0.1% fast
    assert clock.mono(100.0) == pytest.approx(100.1, abs=1e-9)
    assert clock.wall(100.0) - WALL_EPOCH == pytest.approx(100.1, abs=1e-6)
    assert clock.offset(100.0) == pytest.approx(0.1, abs=1e-6)


def test_skew_moves_only_the_wall_clock() -> None:
    clock = HostClock()
    clock.skew_by(10.0, 2.5)
    assert clock.mono(10.0) == 10.0
    assert clock.mono(20.0) == 20.0
    assert clock.wall(10.0) == WALL_EPOCH + 12.5
    assert clock.offset(20.0) == pytest.approx(2.5)
    clock.skew_by(20.0, -4.0)
    assert clock.offset(30.0) == pytest.approx(-1.5)
    assert clock.mono(30.0) == 30.0


def test_set_drift_keeps_the_time_already_elapsed() -> None:
    clock = HostClock()
    clock.set_drift(100.0, 1000.0)
    # Only the 100 s after the change run fast: 100 + 100 * 1.001, not 200 * 1.001.
    assert clock.mono(100.0) == 100.0
    assert clock.mono(200.0) == pytest.approx(200.1, abs=1e-9)
    assert clock.offset(200.0) == pytest.approx(0.1, abs=1e-6)
    clock.set_drift(200.0, 0.0)
    assert clock.mono(300.0) == pytest.approx(300.1, abs=1e-9)


def test_set_drift_keeps_an_earlier_skew() -> None:
    clock = HostClock()
    clock.skew_by(5.0, 3.0)
    clock.set_drift(10.0, -500.0)
    assert clock.offset(10.0) == pytest.approx(3.0)
    assert clock.offset(1010.0) == pytest.approx(3.0 - 0.5, abs=1e-6)


@pytest.mark.parametrize("ppm", [-1e6, -2e6])
def test_a_clock_cannot_stop_or_run_backwards(ppm: float) -> None:
    clock = HostClock()
    with pytest.raises(ValueError, match="ppm"):
        clock.set_drift(1.0, ppm)
    assert clock.drift_ppm == 0.0
    assert clock.anchor == 0.0


def test_sim_time_at_mono_inverts_mono_under_drift() -> None:
    clock = HostClock()
    clock.set_drift(10.0, 1e5)  # 10% fast from t=10: mono(t) = 10 + 1.1 (t - 10)
    assert clock.sim_time_at_mono(21.0, now=10.0) == pytest.approx(20.0)
    assert clock.sim_time_at_mono(10.0, now=10.0) == 10.0


def test_sim_time_at_mono_never_returns_the_past() -> None:
    clock = HostClock(drift_ppm=200.0)
    assert clock.sim_time_at_mono(5.0, now=50.0) == 50.0
    assert clock.sim_time_at_mono(clock.mono(49.0), now=50.0) == 50.0


def test_sim_time_at_mono_ignores_wall_skew() -> None:
    clock = HostClock()
    clock.skew_by(1.0, 3600.0)
    assert clock.sim_time_at_mono(7.0, now=1.0) == pytest.approx(7.0)


def test_a_started_clock_begins_off_by_its_offset_and_drifts_from_there() -> None:
    clock = HostClock.started(offset=-0.2, drift_ppm=50.0)
    assert clock.mono(0.0) == 0.0
    assert clock.offset(0.0) == pytest.approx(-0.2)
    assert clock.mono(1000.0) == pytest.approx(1000.05, abs=1e-9)
    assert clock.offset(1000.0) == pytest.approx(-0.2 + 0.05, abs=1e-6)
    assert clock.base_offset_at(1000.0) == pytest.approx(clock.offset(1000.0), abs=1e-6)
    with pytest.raises(ValueError, match="ppm"):
        HostClock.started(0.0, -1e6)


def test_reset_returns_to_the_baseline_without_moving_mono_back() -> None:
    clock = HostClock.started(offset=0.1, drift_ppm=-80.0)
    clock.skew_by(10.0, 30.0)
    clock.set_drift(10.0, 50_000.0)  # 5% fast for 100 s: mono gains 5 s
    mono_before = clock.mono(110.0)
    clock.reset(110.0)
    assert clock.mono(110.0) == pytest.approx(mono_before)  # counted time is kept
    assert clock.drift_ppm == -80.0
    assert clock.offset(110.0) == pytest.approx(clock.base_offset_at(110.0), abs=1e-6)
    assert clock.offset(500.0) == pytest.approx(0.1 - 500 * 80e-6, abs=1e-6)


_ppm = st.floats(min_value=-500_000.0, max_value=500_000.0)
_changes = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=100.0),  # time since the previous change
        st.sampled_from(["drift", "skew"]),
        st.floats(min_value=-500_000.0, max_value=500_000.0),
    ),
    max_size=6,
)


@given(
    changes=_changes,
    wait=st.floats(min_value=0.0, max_value=1000.0),
    ahead=st.floats(min_value=0.0, max_value=1000.0),
)
def test_sim_time_at_mono_is_the_inverse_of_mono(
    changes: list[tuple[float, str, float]], wait: float, ahead: float
) -> None:
    clock, now = HostClock(), 0.0
    for gap, kind, value in changes:
        now += gap
        if kind == "drift":
            clock.set_drift(now, value)
        else:
            clock.skew_by(now, value / 1000.0)
    now += wait
    target = clock.mono(now) + ahead
    at = clock.sim_time_at_mono(target, now)
    assert at >= now
    assert clock.mono(at) == pytest.approx(target, rel=1e-9, abs=1e-9)


@given(changes=_changes)
def test_mono_is_continuous_and_never_goes_back(changes: list[tuple[float, str, float]]) -> None:
    clock, now, last = HostClock(), 0.0, 0.0
    for gap, kind, value in changes:
        now += gap
        before = clock.mono(now)
        assert before >= last
        if kind == "drift":
            clock.set_drift(now, value)
        else:
            clock.skew_by(now, value)
        assert clock.mono(now) == pytest.approx(before, rel=1e-12, abs=1e-12)
        last = before


# -- core/raft/ticker.py ---------------------------------------------------------------


@pytest.mark.parametrize("interval", [0.0, -1.0, math.nan])
def test_ticker_rejects_a_non_positive_interval(interval: float) -> None:
    with pytest.raises(InvalidSpec, match="tick interval"):
        Ticker(interval, 0.0)


def test_ticker_ticks_once_per_interval() -> None:
    ticker = Ticker(1.0, 10.0)
    assert ticker.next_deadline == 11.0
    assert ticker.advance(10.5) == 0
    assert ticker.advance(11.0) == 1
    assert ticker.next_deadline == 12.0
    assert ticker.advance(11.0) == 0
    assert ticker.advance(11.99) == 0
    assert ticker.advance(12.3) == 1
    assert ticker.next_deadline == 13.0  # the phase is the start's, not the reading's


def test_a_stall_delivers_one_tick_and_keeps_the_phase() -> None:
    ticker = Ticker(1.0, 0.0)
    assert ticker.advance(10.5) == 1  # ten deadlines passed: still one tick
    assert ticker.next_deadline == 11.0
    assert ticker.advance(10.9) == 0
    assert ticker.advance(11.0) == 1


def test_a_reading_a_rounding_error_short_of_the_deadline_ticks() -> None:
    ticker = Ticker(0.5, 0.0)
    assert ticker.advance(0.5 - 1e-13) == 1
    assert ticker.next_deadline == 1.0
    assert ticker.advance(1.0 - 1e-6) == 0  # a real microsecond short is short


def test_a_stall_ending_on_a_deadline_ticks_once_there() -> None:
    # Start 0, interval 0.1: a stall read at mono 0.3 has passed the deadlines 0.1, 0.2
    # and 0.3. One tick, and the next one is due at 0.4; a second reading of the same
    # clock must not tick again.
    ticker = Ticker(0.1, 0.0)
    assert ticker.advance(0.3) == 1
    assert ticker.advance(0.3) == 0
    assert ticker.next_deadline == pytest.approx(0.4)


@given(
    interval=st.floats(min_value=0.001, max_value=10.0),
    start=st.floats(min_value=0.0, max_value=1000.0),
    steps=st.lists(st.floats(min_value=0.0, max_value=50.0), max_size=30),
)
def test_ticker_phase_and_at_most_one_tick_per_reading(
    interval: float, start: float, steps: list[float]
) -> None:
    ticker = Ticker(interval, start)
    mono, ticks = start, 0
    for step in steps:
        mono += step * interval
        delivered = ticker.advance(mono)
        assert delivered in (0, 1)
        ticks += delivered
        if delivered:
            assert ticker.advance(mono) == 0  # a second look at the same clock
        periods = (ticker.next_deadline - start) / interval
        assert periods == pytest.approx(round(periods), abs=1e-6)
    assert ticks <= max(0, math.floor((mono - start) / interval + 1e-6))


# -- sim/faults/topology.py ------------------------------------------------------------

FIVE = ["e", "c", "a", "d", "b"]


def _edges(graph: nx.DiGraph) -> set[tuple[str, str]]:
    return set(graph.edges)


def test_full_connects_every_ordered_pair() -> None:
    graph = topology.full(FIVE)
    assert sorted(graph.nodes) == sorted(FIVE)
    assert _edges(graph) == {(a, b) for a in FIVE for b in FIVE if a != b}


def test_components_talk_within_themselves_only() -> None:
    graph = topology.components(FIVE, [["a", "b"], ["c", "d"]])
    assert sorted(graph.nodes) == ["a", "b", "c", "d", "e"]
    assert _edges(graph) == {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")}


def test_isolate_cuts_one_host_both_ways() -> None:
    graph = topology.isolate(FIVE, "c")
    assert graph.degree("c") == 0
    rest = [h for h in FIVE if h != "c"]
    assert _edges(graph) == {(a, b) for a in rest for b in rest if a != b}


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", [0, 1, 2, 42])
def test_random_halves_splits_with_the_smaller_half_first(count: int, seed: int) -> None:
    hosts = [f"h{i}" for i in range(count)]
    graph, small = topology.random_halves(hosts, random.Random(seed))
    large = sorted(set(hosts) - set(small))
    assert len(small) == count // 2
    assert small == sorted(small)
    assert sorted(graph.nodes) == hosts
    assert _edges(graph) == {
        (a, b) for group in (small, large) for a in group for b in group if a != b
    }


def test_random_halves_depends_on_the_rng_only() -> None:
    hosts = [f"h{i}" for i in range(7)]
    first = topology.random_halves(hosts, random.Random(9))[1]
    again = topology.random_halves(list(reversed(hosts)), random.Random(9))[1]
    assert first == again
    assert len({tuple(topology.random_halves(hosts, random.Random(s))[1]) for s in range(20)}) > 1


@pytest.mark.parametrize("count", [3, 5, 7])
@pytest.mark.parametrize("seed", [0, 1, 7, 2024])
def test_majorities_ring_gives_everyone_a_different_majority(count: int, seed: int) -> None:
    hosts = [f"h{i}" for i in range(count)]
    graph = topology.majorities_ring(hosts, random.Random(seed))
    assert sorted(graph.nodes) == hosts
    heard = {host: frozenset({host, *graph.predecessors(host)}) for host in hosts}
    for host, majority in heard.items():
        assert len(majority) == count // 2 + 1, host
    assert len(set(heard.values())) == count
    # Nobody hears everyone: a majorities ring is a partition.
    assert all(len(m) < count for m in heard.values())


def test_majorities_ring_is_a_shuffled_ring() -> None:
    hosts = [f"h{i}" for i in range(5)]
    graphs = {
        frozenset(topology.majorities_ring(hosts, random.Random(seed)).edges) for seed in range(10)
    }
    assert len(graphs) > 1


@pytest.mark.parametrize("count", [3, 5, 7])
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_bridge_joins_two_halves_through_one_host(count: int, seed: int) -> None:
    hosts = [f"h{i}" for i in range(count)]
    graph, middle = topology.bridge(hosts, random.Random(seed))
    rest = [h for h in hosts if h != middle]
    for other in rest:
        assert graph.has_edge(middle, other)
        assert graph.has_edge(other, middle)
    # The others fall into two equal groups that cannot reach each other.
    reach = {h: frozenset({h, *graph.successors(h)}) - {middle} for h in rest}
    groups = set(reach.values())
    assert len(groups) == 2
    left, right = groups
    assert len(left) == len(right) == (count - 1) // 2
    assert not left & right
    for a, b in itertools.product(left, right):
        assert not graph.has_edge(a, b)
        assert not graph.has_edge(b, a)


def test_one_way_cut_stops_sending_but_not_hearing() -> None:
    graph = topology.full(FIVE)
    before = _edges(graph)
    cut = topology.one_way_cut(graph, "a", ["b", "c"])
    assert _edges(graph) == before  # the original is untouched
    assert not cut.has_edge("a", "b")
    assert not cut.has_edge("a", "c")
    assert cut.has_edge("b", "a")
    assert cut.has_edge("c", "a")
    assert _edges(cut) == before - {("a", "b"), ("a", "c")}


# -- sim/network.py --------------------------------------------------------------------

HOSTS = ["a", "b", "c"]


def _message(term: int = 3) -> Message:
    return Message(
        MessageType.APP,
        to=2,
        source=1,
        term=term,
        log_term=2,
        index=4,
        entries=(Entry(term, 5, data=b"payload"),),
        commit=4,
    )


def _network(
    model: LinkModel | None = None, *, wire: bool = True, seed: int = 1
) -> tuple[Network, dict[str, list[tuple[float, Message]]]]:
    env = simpy.Environment()
    network = Network(env, random.Random(seed), list(HOSTS), model or LinkModel(), wire=wire)
    inbox: dict[str, list[tuple[float, Message]]] = {h: [] for h in HOSTS}
    for host in HOSTS:
        network.receivers[host] = lambda m, host=host: inbox[host].append((env.now, m))
    return network, inbox


def test_latency_is_the_minimum_plus_the_models_draw() -> None:
    model = LinkModel(latency_min=0.01, latency_mean_extra=0.002)
    network, inbox = _network(model, seed=5)
    network.send("a", "b", _message())
    network.env.run()
    [(arrived, _)] = inbox["b"]
    assert arrived == model.delay(random.Random(5))
    assert arrived >= 0.01
    assert inbox["a"] == inbox["c"] == []


def test_latency_stays_above_the_minimum_and_near_the_mean() -> None:
    model = LinkModel(latency_min=0.01, latency_mean_extra=0.002)
    network, inbox = _network(model)
    for _ in range(500):
        network.send("a", "b", _message())
    network.env.run()
    times = [t for t, _ in inbox["b"]]
    assert len(times) == 500
    assert min(times) >= 0.01
    assert sum(times) / len(times) == pytest.approx(0.012, rel=0.15)


def test_reorder_adds_at_most_the_reorder_delay() -> None:
    rng = random.Random(3)
    base = LinkModel(latency_min=0.001, latency_mean_extra=1e-6, reorder=1.0, reorder_delay=0.05)
    delays = [base.delay(rng) for _ in range(200)]
    assert all(0.001 <= d <= 0.001 + 0.05 + 1e-4 for d in delays)
    assert max(delays) > 0.02  # the extra delay did happen


def test_total_loss_drops_everything() -> None:
    network, inbox = _network(LinkModel(loss=1.0))
    for _ in range(20):
        network.send("a", "b", _message())
    network.env.run()
    assert inbox["b"] == []
    assert network.stats == {"sent": 20, "lost": 20}


def test_burst_loss_adds_to_the_links_loss() -> None:
    network, inbox = _network()
    network.burst_loss = 1.0
    network.send("a", "b", _message())
    network.env.run()
    assert inbox["b"] == []
    assert network.stats["lost"] == 1


def test_a_link_override_applies_to_one_direction() -> None:
    network, inbox = _network()
    network.links[("a", "b")] = LinkModel(loss=1.0)
    network.send("a", "b", _message())
    network.send("b", "a", _message())
    network.env.run()
    assert inbox["b"] == []
    assert len(inbox["a"]) == 1


def test_plain_keeps_the_latency_and_drops_the_rest() -> None:
    lossy = LinkModel(0.003, 0.002, loss=0.2, duplicate=0.1, reorder=0.5, reorder_delay=0.01)
    assert lossy.plain() == LinkModel(0.003, 0.002, reorder_delay=0.01)


def test_clean_leaves_only_latency_on_the_model_and_every_override() -> None:
    network, inbox = _network(LinkModel(loss=0.5, duplicate=0.5, reorder=1.0))
    network.links[("a", "b")] = LinkModel(latency_min=0.01, loss=1.0)
    network.set_graph(topology.isolate(HOSTS, "c"))
    network.burst_loss = network.burst_duplicate = 0.3
    network.clean()
    assert network.model == LinkModel()
    assert network.links == {("a", "b"): LinkModel(latency_min=0.01)}
    assert network.blocked_links() == [] and network.burst_loss == network.burst_duplicate == 0
    for _ in range(50):
        network.send("a", "b", _message())
        network.send("c", "a", _message())
    network.env.run()
    assert len(inbox["b"]) == len(inbox["a"]) == 50
    assert min(t for t, _ in inbox["b"]) >= 0.01
    assert network.stats == {"sent": 100, "delivered": 100}


def test_total_duplication_delivers_twice() -> None:
    network, inbox = _network(LinkModel(duplicate=1.0))
    network.send("a", "c", _message())
    network.env.run()
    assert [m for _, m in inbox["c"]] == [_message(), _message()]
    assert network.stats == {"sent": 1, "duplicated": 1, "delivered": 2}


def test_a_blocked_link_drops_at_send_and_heal_restores_it() -> None:
    network, inbox = _network()
    network.set_graph(topology.one_way_cut(topology.full(HOSTS), "a", ["b"]))
    assert not network.reachable("a", "b")
    assert network.reachable("b", "a")
    assert network.blocked_links() == [("a", "b")]
    network.send("a", "b", _message())
    network.send("b", "a", _message())
    network.env.run()
    assert inbox["b"] == []
    assert len(inbox["a"]) == 1
    assert network.stats["cut"] == 1

    network.heal()
    assert network.blocked_links() == []
    network.send("a", "b", _message())
    network.env.run()
    assert len(inbox["b"]) == 1


def test_a_message_in_flight_on_a_link_that_is_cut_is_lost() -> None:
    network, inbox = _network(LinkModel(latency_min=0.01, latency_mean_extra=0.001))
    network.send("a", "b", _message())
    network.send("a", "c", _message())
    network.env.run(until=0.005)
    network.set_graph(topology.isolate(HOSTS, "b"))
    network.env.run()
    assert inbox["b"] == []
    assert len(inbox["c"]) == 1
    assert network.stats == {"sent": 2, "cut": 1, "delivered": 1}


def test_add_host_joins_a_healed_network() -> None:
    network, _ = _network()
    network.set_graph(topology.isolate(HOSTS, "a"))
    network.add_host("d")
    assert network.hosts == ["a", "b", "c", "d"]
    assert network.blocked_links() == []
    assert network.reachable("d", "a")


def test_the_wire_delivers_an_equal_copy_through_bytes() -> None:
    network, inbox = _network(wire=True)
    sent = _message()
    network.send("a", "b", sent)
    network.env.run()
    [(_, received)] = inbox["b"]
    assert received == sent
    assert received is not sent
    assert received.entries[0] is not sent.entries[0]


def test_without_the_wire_the_same_object_arrives() -> None:
    network, inbox = _network(wire=False)
    sent = _message()
    network.send("a", "b", sent)
    network.env.run()
    [(_, received)] = inbox["b"]
    assert received is sent


def test_the_same_seed_gives_the_same_arrival_times() -> None:
    def run(seed: int) -> list[float]:
        network, inbox = _network(LinkModel(duplicate=0.3, loss=0.2, reorder=0.5), seed=seed)
        for i in range(50):
            network.send("a", "b", _message(term=i + 1))
        network.env.run()
        return [t for t, _ in inbox["b"]]

    assert run(8) == run(8)
    assert run(8) != run(9)


# -- sim/disk.py -----------------------------------------------------------------------


def _write(seq: int, index: int | None = None, term: int = 1) -> DurableWrite:
    index = seq if index is None else index
    return DurableWrite(
        seq=seq,
        hard_state=HardState(term=term, vote=1, commit=index - 1),
        entries=(Entry(term, index, data=f"e{index}".encode()),),
    )


def _disk(seed: int = 4) -> tuple[SimDisk, list[tuple[float, int]]]:
    env = simpy.Environment()
    disk = SimDisk(env, random.Random(seed))
    synced: list[tuple[float, int]] = []
    disk.on_synced = lambda seq: synced.append((env.now, seq))
    return disk, synced


def _indexes(state: PersistentState) -> list[int]:
    return [e.index for e in state.entries]


def test_the_first_write_is_confirmed_after_one_fsync() -> None:
    disk, synced = _disk(seed=4)
    disk.write(_write(1))
    assert _indexes(disk.durable) == []  # not durable before the fsync ends
    disk.env.run()
    fsync = DiskModel().fsync_time(random.Random(4))
    assert synced == [(fsync, 1)]
    assert _indexes(disk.durable) == [1]
    assert disk.durable.hard_state == HardState(term=1, vote=1, commit=0)
    assert disk.fsyncs == 1
    assert disk.pending == []


def test_writes_during_an_fsync_share_the_next_one() -> None:
    disk, synced = _disk(seed=4)
    for seq in (1, 2, 3, 4):
        disk.write(_write(seq))
    disk.env.run()
    rng = random.Random(4)
    first = DiskModel().fsync_time(rng)
    second = first + DiskModel().fsync_time(rng)
    # Write 1 started an fsync alone; 2, 3 and 4 waited for it and went in one batch.
    assert synced == [(first, 1), (second, 4)]
    assert disk.fsyncs == 2
    assert _indexes(disk.durable) == [1, 2, 3, 4]


def test_a_write_during_an_fsync_is_not_durable_when_it_ends() -> None:
    disk, _ = _disk()
    states: list[tuple[int, list[int]]] = []
    disk.on_synced = lambda seq: states.append((seq, _indexes(disk.durable)))
    disk.write(_write(1))
    disk.env.run(until=disk.model.fsync_min / 2)
    disk.write(_write(2))
    disk.env.run()
    assert states == [(1, [1]), (2, [1, 2])]


def test_a_process_crash_keeps_the_page_cache() -> None:
    disk, synced = _disk()
    disk.write(_write(1))
    disk.write(_write(2))
    assert disk.crash(power_loss=False) == 0
    assert _indexes(disk.durable) == [1, 2]
    assert disk.pending == []
    disk.env.run()
    assert synced == []  # the fsync in flight confirms nothing to the dead process
    assert disk.fsyncs == 0


def test_a_power_loss_drops_the_unsynced_tail() -> None:
    disk, synced = _disk()
    disk.write(_write(1))
    disk.env.run()
    disk.write(_write(2))
    disk.write(_write(3))
    assert disk.crash(power_loss=True) == 2
    disk.env.run()
    assert [seq for _, seq in synced] == [1]
    assert _indexes(disk.durable) == [1]
    assert disk.fsyncs == 1


def test_after_a_crash_new_writes_get_their_own_fsync() -> None:
    disk, synced = _disk()
    disk.write(_write(1))
    disk.crash(power_loss=True)
    disk.write(_write(2, index=1, term=2))
    disk.env.run()
    assert [seq for _, seq in synced] == [2]
    assert disk.durable.entries == [Entry(2, 1, data=b"e1")]
    assert disk.fsyncs == 1


def test_wipe_forgets_everything() -> None:
    disk, synced = _disk()
    disk.write(_write(1))
    disk.env.run()
    disk.write(_write(2))
    disk.wipe()
    disk.env.run()
    assert disk.durable == PersistentState()
    assert disk.pending == []
    assert [seq for _, seq in synced] == [1]


def test_on_write_runs_after_each_write_is_queued() -> None:
    disk, _ = _disk()
    seen: list[list[int]] = []
    disk.on_write = lambda: seen.append([w.seq for w in disk.pending])
    disk.write(_write(1))
    disk.write(_write(2))
    assert seen == [[1], [1, 2]]


def test_on_write_can_crash_the_disk_under_the_write() -> None:
    disk, synced = _disk()
    lost: list[int] = []
    disk.on_write = lambda: lost.append(disk.crash(power_loss=True))
    disk.write(_write(1))
    disk.env.run()
    assert lost == [1]
    assert synced == []
    assert disk.durable == PersistentState()


# -- sim/streams.py --------------------------------------------------------------------


def _draws(rng: random.Random, n: int = 8) -> list[float]:
    return [rng.random() for _ in range(n)]


def test_the_same_seed_and_name_give_the_same_stream() -> None:
    assert _draws(Streams(7).child("network")) == _draws(Streams(7).child("network"))


def test_names_and_seeds_give_different_streams() -> None:
    streams = Streams(7)
    network, host = _draws(streams.child("network")), _draws(streams.child("host-1"))
    assert network != host
    assert _draws(Streams(8).child("network")) != network


def test_a_stream_is_handed_out_once() -> None:
    streams = Streams(1)
    streams.child("disk")
    with pytest.raises(ValueError, match="disk"):
        streams.child("disk")
    streams.child("disk-2")  # other names are still free


def test_an_extra_stream_does_not_shift_the_others() -> None:
    plain = Streams(3)
    expected = _draws(plain.child("a"))
    busy = Streams(3)
    extra = busy.child("new-nemesis")
    _draws(extra, 100)
    assert _draws(busy.child("a")) == expected


def test_streams_do_not_touch_the_global_random_state() -> None:
    state = random.getstate()
    _draws(Streams(5).child("x"))
    assert random.getstate() == state


# -- sim/trace.py ----------------------------------------------------------------------


def test_trace_lines_are_canonical_json(tmp_path) -> None:
    path = tmp_path / "trace.jsonl"
    trace = Trace(path)
    trace.emit(1.5, "h1", "tick", zeta=1, alpha="x")
    trace.emit(2.0, "-", "fault", nemesis="kill")
    trace.close()
    assert path.read_text(encoding="utf-8") == (
        '{"alpha":"x","host":"h1","kind":"tick","t":1.5,"zeta":1}\n'
        '{"host":"-","kind":"fault","nemesis":"kill","t":2.0}\n'
    )
    assert trace.events == 2


def test_the_hash_is_the_sha256_of_the_file(tmp_path) -> None:
    path = tmp_path / "trace.jsonl"
    trace = Trace(path)
    for i in range(5):
        trace.emit(i * 0.1, f"h{i % 2}", "event", i=i, data=[i, "x"])
    trace.close()
    assert trace.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_empty_trace_hashes_nothing() -> None:
    assert Trace().hexdigest() == hashlib.sha256(b"").hexdigest()


def test_the_same_events_give_the_same_hash_with_or_without_a_file(tmp_path) -> None:
    def emit(trace: Trace, host: str = "h1") -> str:
        trace.emit(0.25, host, "start", raft_id=1)
        trace.emit(0.5, host, "leader", term=2)
        trace.close()
        return trace.hexdigest()

    with_file = emit(Trace(tmp_path / "t.jsonl"))
    assert emit(Trace()) == with_file
    assert emit(Trace(), host="h2") != with_file


def test_field_order_does_not_change_the_hash() -> None:
    one, two = Trace(), Trace()
    one.emit(1.0, "h", "k", a=1, b=2)
    two.emit(1.0, "h", "k", b=2, a=1)
    assert one.hexdigest() == two.hexdigest()


def test_time_is_rounded_to_the_microsecond(tmp_path) -> None:
    path = tmp_path / "t.jsonl"
    trace = Trace(path)
    trace.emit(1.23456749, "h", "k")
    trace.emit(0.1 + 0.2, "h", "k")
    trace.close()
    times = [json.loads(line)["t"] for line in path.read_text().splitlines()]
    assert times == [1.234567, 0.3]
    same = Trace()
    same.emit(1.2345671, "h", "k")
    other = Trace()
    other.emit(1.2345674, "h", "k")
    assert same.hexdigest() == other.hexdigest()


def test_close_is_idempotent_and_hashing_goes_on(tmp_path) -> None:
    trace = Trace(tmp_path / "t.jsonl")
    trace.close()
    trace.close()
    trace.emit(1.0, "h", "k")  # after close, still hashed, not written
    assert trace.events == 1
    assert (tmp_path / "t.jsonl").read_text() == ""
