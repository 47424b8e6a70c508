"""The scenario's faults on one host's links and disk, in the simulator: ``loss``
drops its share of what the host sends and receives, ``duplicate`` repeats a share of
what it sends, ``delay`` holds what it sends, ``stall-disk`` confirms no write until
the stall ends; each is undone exactly, is read with a clear message when written
wrong, and a run using them is the same run twice from one seed."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
import simpy

from cli.scenario.runner import run, scenario_world
from cli.scenario.schema import ScenarioError, parse
from core.raft.types import DurableWrite
from sim.disk import SimDisk
from sim.faults import topology
from sim.faults.scenario import ScenarioFaults
from sim.network import NO_FAULT, HostFault, Network

HOSTS = ["a", "b", "c"]
COUNT = 4000


def network(**faults: HostFault) -> tuple[simpy.Environment, Network, Counter[tuple[str, str]]]:
    env = simpy.Environment()
    net = Network(env, random.Random(1), list(HOSTS), wire=False)
    net.fault_rng = random.Random(2)
    arrived: Counter[tuple[str, str]] = Counter()
    for host in HOSTS:
        net.receivers[host] = lambda message, host=host: arrived.update([(message, host)])
    for host, fault in faults.items():
        net.set_host_fault(host, fault)
    return env, net, arrived


def send_all(env: simpy.Environment, net: Network, pairs: list[tuple[str, str]]) -> None:
    for source, target in pairs:
        for _ in range(COUNT):
            net.send(source, target, source)
    env.run()


def share(arrived: Counter[tuple[str, str]], source: str, target: str) -> float:
    return arrived[(source, target)] / COUNT


def test_loss_drops_its_share_of_what_the_host_sends_and_receives_only() -> None:
    env, net, arrived = network(a=HostFault(loss=0.2))
    send_all(env, net, [("a", "b"), ("b", "a"), ("b", "c")])
    assert share(arrived, "a", "b") == pytest.approx(0.8, abs=0.03)
    assert share(arrived, "b", "a") == pytest.approx(0.8, abs=0.03)
    assert share(arrived, "b", "c") == 1.0  # between two other hosts: untouched


def test_loss_on_both_ends_is_drawn_on_each() -> None:
    env, net, arrived = network(a=HostFault(loss=0.5), b=HostFault(loss=0.5))
    send_all(env, net, [("a", "b")])
    assert share(arrived, "a", "b") == pytest.approx(0.25, abs=0.03)


def test_duplicate_repeats_its_share_of_what_the_host_sends_only() -> None:
    env, net, arrived = network(a=HostFault(duplicate=0.1))
    send_all(env, net, [("a", "b"), ("b", "a")])
    assert share(arrived, "a", "b") == pytest.approx(1.1, abs=0.03)
    assert share(arrived, "b", "a") == 1.0


def test_delay_holds_what_the_host_sends_only() -> None:
    env, net, _ = network(a=HostFault(delay=0.05))
    when: dict[str, float] = {}
    net.receivers["b"] = lambda message: when.setdefault("a->b", env.now)
    net.receivers["a"] = lambda message: when.setdefault("b->a", env.now)
    net.send("a", "b", "x")
    net.send("b", "a", "x")
    env.run()
    assert 0.05 < when["a->b"] < 0.052
    assert when["b->a"] < 0.002


def test_a_fault_set_back_to_none_is_gone() -> None:
    env, net, arrived = network(a=HostFault(loss=1.0))
    net.set_host_fault("a", NO_FAULT)
    send_all(env, net, [("a", "b")])
    assert share(arrived, "a", "b") == 1.0
    assert net.host_faults == {}


def test_a_stalled_disk_confirms_nothing_until_the_stall_ends() -> None:
    env = simpy.Environment()
    disk = SimDisk(env, random.Random(1))
    synced: list[tuple[float, int]] = []
    disk.on_synced = lambda seq: synced.append((env.now, seq))
    disk.stall()
    disk.write(DurableWrite(seq=1))
    env.run(until=5.0)
    assert synced == [] and disk.durable.last_index() == 0 and disk.pending
    disk.unstall()
    env.run()
    assert synced == [(5.0, 1)]


STALL = """
name: stall
cluster: {managers: 1, workers: 1}
steps:
  - {at: 2s, fault: stall-disk manager-1, for: 30s}
  - {at: 3s, run: service create --name web nginx, fails: true}
expect:
  always: [raft safety, task invariants]
  by:
    - {at: 60s, check: service web running 1/1}
duration: 61s
"""


def test_a_write_waits_for_a_stalled_managers_disk() -> None:
    """The manager commits nothing it has not fsynced, and answers nothing behind it:
    a write gets no reply while its disk is stalled, and commits after the stall, as
    the design allows."""
    report = run(parse(STALL))
    assert report.passed, [v for v in report.verdicts if not v.passed]
    unstalled = run(parse(STALL.replace("stall-disk manager-1, for: 30s", "heal")))
    failed = [v.text for v in unstalled.verdicts if not v.passed]
    assert failed == ["step: service create --name web nginx (fails)"]


WORKER_STALL = """
name: stall
cluster: {managers: 1, workers: 1}
steps:
  - {at: 2s, fault: stall-disk worker-1, for: 10s}
  - {at: 3s, run: service create --name web --constraint node.role==worker nginx}
expect:
  always: [raft safety, task invariants]
  at:
    - {at: 11s, check: service web running 0/1}
  by:
    - {at: 30s, check: service web running 1/1}
duration: 31s
"""


def test_a_stalled_workers_disk_holds_its_agent_until_the_stall_ends() -> None:
    """The agent writes its assignment down before it starts the container (a real
    driver carries out nothing before its WAL's sync): with the worker's disk stalled,
    the task waits for the stall's end."""
    report = run(parse(WORKER_STALL))
    assert report.passed, [v for v in report.verdicts if not v.passed]
    unstalled = run(parse(WORKER_STALL.replace("stall-disk worker-1, for: 10s", "heal")))
    failed = [v.text for v in unstalled.verdicts if not v.passed]
    assert failed == ["at 11s: service web running 0/1"]


LINKS = """
name: links
cluster: {managers: 3, workers: 1}
steps:
  - {at: 0s, run: service create --name web --replicas 2 nginx}
  - {at: 5s, fault: loss manager-1 100%, for: 20s}
  - {at: 6s, fault: duplicate worker-1 30%, for: 20s}
  - {at: 6s, fault: delay manager-2 50ms, for: 20s}
  - {at: 40s, fault: loss manager-1 100%}
  - {at: 41s, fault: heal}
expect:
  always: [raft safety, task invariants]
  at:
    - {at: 4s, check: leader is manager-1}
    - {at: 20s, check: leader is not manager-1}
    - {at: 24s, check: node manager-1 unknown}
    - {at: 39s, check: node manager-1 ready}
  by:
    - {at: 60s, check: service web running 2/2}
  never:
    - {check: node manager-1 down, from: 45s}
duration: 70s
"""


def test_link_faults_strike_end_and_keep_a_run_deterministic() -> None:
    scenario = parse(LINKS)
    first, second = run(scenario, 5), run(scenario, 5)
    assert first.passed, [v for v in first.verdicts if not v.passed]
    assert first.trace_hash == second.trace_hash
    ended = sorted(what for _, end, what in first.timeline.faults if end < 70)
    assert ended == [
        "delay manager-2",
        "duplicate worker-1",
        "loss manager-1",
        "loss manager-1",
    ]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("loss manager-1", "loss needs a host and a percentage above 0 and at most 100%"),
        ("loss manager-1 0%", "not '0%'"),
        ("duplicate manager-1 120%", "not '120%'"),
        ("loss nobody 20%", "loss needs a host: one of manager-1, worker-1"),
        ("delay manager-1 2m", "delay needs a host and a duration above 0 and at most 60s"),
        ("delay manager-1 soon", "not 'soon'"),
        ("stall-disk", "stall-disk needs a host"),
    ],
)
def test_a_host_fault_written_wrong_is_named_with_its_line(fault: str, message: str) -> None:
    text = f"cluster: {{managers: 1, workers: 1}}\nsteps:\n  - {{at: 1s, fault: {fault}}}\n"
    with pytest.raises(ScenarioError) as raised:
        parse(text, "bad.yml")
    assert str(raised.value).startswith("bad.yml:3: steps[0].fault: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("shape", "build"),
    [
        ("majority-ring", lambda names, rng: topology.majorities_ring(names, rng)),
        ("halves", lambda names, rng: topology.random_halves(names, rng)[0]),
        ("bridge", lambda names, rng: topology.bridge(names, rng)[0]),
    ],
)
def test_each_partition_shape_cuts_its_graph_and_heals(shape: str, build: Any) -> None:
    scenario = parse("cluster: {managers: 3, workers: 2}\n")
    world = scenario_world(scenario, 4, None)
    faults = ScenarioFaults(world, random.Random(9))
    assert faults.start(f"partition {shape}") == shape
    expected = build(world.names, random.Random(9))
    blocked = world.network.blocked_links()
    assert blocked and all(not expected.has_edge(a, b) for a, b in blocked)
    assert len(blocked) == 20 - expected.number_of_edges()
    faults.undo(f"partition {shape}", shape)
    assert world.network.blocked_links() == []
