"""The faults a Swarm user injects (issue 15, item 9), through the scenario language:
``kill web.2``, ``pull-fails IMAGE on HOST``, ``pause HOST``, ``skew HOST +40s`` and
``partition majority-ring``; and the whole-swarm host's pause and clock hooks they
stand on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.scenario.runner import run
from cli.scenario.schema import ScenarioError, parse
from core.model.service import Placement
from core.tasks.states import TaskState
from sim.cluster import HostState
from sim.faults.scenario import ScenarioFaults
from tests.cluster.support import host_of, replicated, running, swarm


def scenario(steps: str, expect: str, *, cluster: str = "{managers: 1, workers: 2}") -> str:
    return f"name: t\ncluster: {cluster}\nsteps:\n{steps}\nexpect:\n{expect}\nduration: 60s\n"


def passes(text: str, trace: Path | None = None) -> None:
    report = run(parse(text, "t.yml"), trace_path=trace)
    assert report.passed, [v for v in report.verdicts if not v.passed]


# -- kill -------------------------------------------------------------------------------------


def test_kill_exits_the_slots_container_137_and_the_restart_policy_replaces_it() -> None:
    text = scenario(
        "  - {at: 0s, run: service create --name web --replicas 3 nginx}\n"
        "  - {at: 20s, fault: kill web.2}",
        "  at:\n"
        "    - {at: 19s, check: service web has 3 tasks}\n"
        "    - {at: 50s, check: service web has 4 tasks}\n"
        "    - {at: 50s, check: service web running 3/3}",
    )
    passes(text)


def test_kill_in_a_world_fails_the_slot_with_docker_s_error() -> None:
    world = swarm(2, managers=1, workers=2)
    reply = world.call("manager-1", "ServiceCreate", spec=replicated("web", 3))
    assert reply.ok
    sid = str(reply.value)
    assert world.run_until(lambda: len(running(world, sid)) == 3, 60)
    faults = ScenarioFaults(world, world.streams.child("t"))
    killed = faults.start("kill web.2")
    (task,) = [t for t in world.tasks() if t.id == killed]
    assert task.slot == 2
    assert world.run_until(
        lambda: any(t.id == killed and t.status.state is TaskState.FAILED for t in world.tasks()),
        10,
    )
    (task,) = [t for t in world.tasks() if t.id == killed]
    assert task.status.err == "task: non-zero exit (137)"
    assert task.status.container_status is not None
    assert task.status.container_status.exit_code == 137
    assert world.run_until(lambda: len(running(world, sid)) == 3, 60)
    assert {t.slot for t in running(world, sid)} == {1, 2, 3}


def test_kill_of_nothing_running_fails_its_step() -> None:
    text = scenario("  - {at: 1s, fault: kill web.1}", "  always: [raft safety]")
    report = run(parse(text, "t.yml"))
    (failed,) = [v for v in report.verdicts if not v.passed]
    assert failed.text == "fault: kill web.1" and "no such service: web" in failed.seen


# -- pulls that fail on one node --------------------------------------------------------------


def test_an_image_that_cannot_be_pulled_on_one_node_runs_on_the_others() -> None:
    world = swarm(5, managers=1, workers=2)
    ScenarioFaults(world, world.streams.child("t")).start("pull-fails busybox:2 on worker-1")
    workers = Placement(constraints=("node.role==worker",))
    spec = replicated("web", 2, "busybox:2", placement=workers)
    reply = world.call("manager-1", "ServiceCreate", spec=spec)
    sid = str(reply.value)
    assert world.run_until(lambda: len(running(world, sid)) == 2, 180)
    assert {host_of(world, t) for t in running(world, sid)} == {"worker-2"}
    rejected = [t for t in world.tasks() if t.status.state is TaskState.REJECTED]
    assert rejected and all(host_of(world, t) == "worker-1" for t in rejected)
    assert {t.status.err for t in rejected} == {"No such image: busybox:2"}


# -- pause --------------------------------------------------------------------------------------


def test_a_paused_host_queues_everything_and_catches_up_when_it_resumes() -> None:
    world = swarm(6, managers=3, workers=1)
    leader = world.leader()
    assert leader is not None
    clock_before = leader.clock.mono(world.env.now)
    leader.pause()
    assert leader.state is HostState.PAUSED
    world.run_for(30)
    assert leader.clock.mono(world.env.now) > clock_before + 29, "its clocks run on"
    new = world.leader()
    assert new is not None and new is not leader, "the others elect a new leader"
    assert leader._held, "messages queued meanwhile"
    leader.resume()
    assert leader.state is HostState.UP and not leader._held
    assert world.run_until(lambda: world.all_ready(), 60)
    node = leader.node
    assert node is not None and node.manager is not None and not node.manager.is_leader


def test_pause_for_a_while_in_a_scenario(tmp_path: Path) -> None:
    text = scenario(
        "  - {at: 0s, run: service create --name web --replicas 2 nginx}\n"
        "  - {at: 5s, fault: pause manager-1, for: 20s}",
        "  always: [raft safety, task invariants]\n"
        "  at:\n"
        "    - {at: 20s, check: leader is not manager-1}\n"
        "  by:\n"
        "    - {at: 55s, check: node manager-1 ready}\n"
        "    - {at: 55s, check: service web running 2/2}",
        cluster="{managers: 3, workers: 1}",
    )
    trace = tmp_path / "run.jsonl"
    passes(text, trace)
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert "pause" in kinds and "resume" in kinds


# -- clocks ---------------------------------------------------------------------------------


def test_skew_steps_the_wall_clock_and_for_puts_it_back(tmp_path: Path) -> None:
    text = scenario(
        "  - {at: 0s, run: service create --name web --replicas 2 nginx}\n"
        "  - {at: 5s, fault: skew worker-1 +40s, for: 20s}\n"
        "  - {at: 6s, fault: skew worker-2 -2m}",
        "  always: [raft safety, task invariants]\n"
        "  by:\n"
        "    - {at: 55s, check: service web running 2/2}",
    )
    trace = tmp_path / "run.jsonl"
    passes(text, trace)
    clocks = [r for r in map(json.loads, trace.read_text().splitlines()) if r["kind"] == "clock"]
    offsets = [(r["host"], round(r["offset_s"])) for r in clocks]
    assert offsets == [("worker-1", 40), ("worker-2", -120), ("worker-1", 0)], offsets


def test_a_drifting_clock_moves_the_hosts_timers() -> None:
    world = swarm(7, managers=1, workers=1)
    host = world.hosts["worker-1"]
    host.set_drift(1e6)  # twice as fast
    before = host.clock.mono(world.env.now)
    world.run_for(10)
    assert host.clock.mono(world.env.now) - before == pytest.approx(20.0)
    assert world.run_until(lambda: world.all_ready(), 30)
    host.reset_clock()
    assert host.clock.drift_ppm == host.clock.base_drift_ppm


# -- the network's shape --------------------------------------------------------------------


def test_partition_majority_ring_then_heal(tmp_path: Path) -> None:
    text = scenario(
        "  - {at: 0s, run: service create --name web --replicas 3 nginx}\n"
        "  - {at: 5s, fault: partition majority-ring, for: 20s}",
        "  always: [raft safety, task invariants]\n"
        "  by:\n"
        "    - {at: 55s, check: service web running 3/3}",
        cluster="{managers: 5, workers: 0}",
    )
    trace = tmp_path / "run.jsonl"
    passes(text, trace)
    faults = [
        r
        for r in map(json.loads, trace.read_text().splitlines())
        if r["kind"] in ("fault", "fault-end")
    ]
    assert [(r["kind"], r["what"]) for r in faults] == [
        ("fault", "partition majority-ring"),
        ("fault-end", "partition majority-ring"),
    ]


def test_majority_ring_every_host_hears_a_majority_but_no_two_the_same() -> None:
    world = swarm(8, managers=5, workers=0)
    faults = ScenarioFaults(world, world.streams.child("t"))
    assert faults.start("partition majority-ring") == "majority-ring"
    names = world.names
    heard = {n: frozenset([n, *(m for m in names if world.network.reachable(m, n))]) for n in names}
    assert all(len(h) == 3 for h in heard.values())
    assert len(set(heard.values())) == 5
    faults.undo("partition majority-ring", "majority-ring")
    assert world.network.blocked_links() == []


# -- the language -----------------------------------------------------------------------------


def test_a_skew_may_strike_a_worker_drawn_from_the_seed() -> None:
    from sim.faults.scenario import read

    fault = read("skew a worker +40s", ["manager-1", "worker-1"])
    assert (fault.verb, fault.host, fault.argument) == ("skew", "a worker", "40.0")


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("kill web", "kill needs a task: SERVICE.SLOT (web.2) or SERVICE.HOST"),
        ("kill web.0", "'0' is neither a slot"),
        ("kill web.worker-9", "'worker-9' is neither a slot"),
        ("pull-fails busybox:2", "pull-fails needs an image and a host"),
        ("pull-fails busybox:2 on worker-9", "pull-fails needs a host: one of"),
        ("pause", "pause needs a host"),
        ("skew worker-1", "skew needs a host and a signed duration"),
        ("skew worker-1 +40x", "skew needs a host and a signed duration"),
        ("partition thirds", "partition needs a shape: majority-ring, halves, bridge"),
        ("explode worker-1", "kill, pull-fails, pause, resume, skew, partition"),
    ],
)
def test_a_fault_the_language_does_not_know_is_named_with_its_line(
    fault: str, problem: str
) -> None:
    text = scenario(f"  - {{at: 1s, fault: {fault}}}", "  always: [raft safety]")
    with pytest.raises(ScenarioError) as raised:
        parse(text, "t.yml")
    assert raised.value.line == 4 and problem in str(raised.value), str(raised.value)


def test_only_the_lasting_faults_take_for() -> None:
    text = scenario("  - {at: 1s, fault: kill web.1, for: 5s}", "  always: [raft safety]")
    with pytest.raises(ScenarioError, match="kill does not last 'for' a while"):
        parse(text, "t.yml")
    for lasting in ("pull-fails nginx on worker-1", "pause worker-1", "skew worker-1 -3s"):
        parse(scenario(f"  - {{at: 1s, fault: {lasting}, for: 5s}}", "  always: []"), "t.yml")


@pytest.mark.parametrize("paused", [True, False], ids=["paused", "running"])
def test_a_restart_leaves_nothing_of_the_old_process(paused: bool) -> None:
    """``restart HOST`` of a host that runs or is paused kills the old process first:
    its held inputs and fsyncs in flight must not reach the new one (they confirmed
    writes the new Raft member never issued)."""
    world = swarm(1, managers=3, workers=1)
    leader = world.leader()
    assert leader is not None
    world.send_request(leader.name, "ServiceCreate", spec=replicated("web", 2))
    world.run_for(0.0005)  # the write is on its way to the disk
    if paused:
        leader.pause()
        world.run_for(2.0)
    world.restart(leader)
    world.run_for(1.0)
    leader.pause()
    leader.resume()
    world.run_for(30.0)
    assert world.all_ready()
    assert world.call(leader.name, "ServiceList").ok
