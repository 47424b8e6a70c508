"""The world's moving parts driven by hand: fault schedules, pauses, power loss,
restarts, membership replacement and the client's acknowledgements."""

from __future__ import annotations

import pytest

from core.raft.types import Role
from sim.host import HostState
from sim.world import RaftWorld, WorldConfig

SETTLED = 40.0  # seconds: a first election at 1 s ticks takes 10-20 s


def booted(seed: int = 1, **config: object) -> RaftWorld:
    world = RaftWorld(WorldConfig(**config), seed)  # type: ignore[arg-type]
    world.boot()
    world.env.run(until=SETTLED)
    assert world.leader_host() is not None
    return world


def test_a_timeline_starts_and_stops_each_fault_at_its_time() -> None:
    world = booted()
    world.env.process(world.faults.timeline([(50.0, "pause", 5.0), (60.0, "loss-burst", 3.0)]))
    world.env.run(until=52.0)
    assert [h.name for h in world.hosts.values() if h.state is HostState.PAUSED]
    assert world.network.burst_loss == 0.0
    world.env.run(until=61.0)
    assert not [h for h in world.hosts.values() if h.state is HostState.PAUSED]
    assert 0.1 <= world.network.burst_loss <= 0.5
    world.env.run(until=64.0)
    assert world.network.burst_loss == 0.0
    assert dict(world.faults.started) == {"pause": 1, "loss-burst": 1}


def test_a_fault_of_an_active_family_replaces_the_active_one() -> None:
    world = booted()
    assert world.faults.start("partition-random-halves", 100.0)
    assert world.network.blocked_links()
    assert world.faults.start("one-way-cut", 100.0)
    mute = [a for a, _ in world.network.blocked_links()]
    assert len(set(mute)) == 1  # only the one-way cut is left: one host cannot send
    assert list(world.faults.active) == ["network"]
    world.faults.stop_all()
    assert world.network.blocked_links() == []


def test_a_paused_host_queues_messages_and_catches_up_when_resumed() -> None:
    world = booted()
    follower = next(h for h in world.up_hosts() if h.role is Role.FOLLOWER)
    world.pause(follower)
    applied = follower.chain.applied_index
    world.env.run(until=world.env.now + 5.0)
    assert follower.chain.applied_index == applied  # the world stopped for it
    leader = world.leader_host()
    assert leader is not None and leader.chain.applied_index > applied
    follower.resume()
    world.env.run(until=world.env.now + 2.0)
    assert follower.chain.applied_index >= leader.chain.applied_index - 2


def test_power_loss_strikes_while_a_write_waits_and_loses_it() -> None:
    world = booted()
    assert world.faults.start("power-loss", 30.0)
    world.env.run(until=world.env.now + 20.0)
    crashed = [h for h in world.hosts.values() if h.state is not HostState.UP]
    assert len(crashed) == 1
    assert world.stats["writes_lost"] >= 1


def test_a_restart_boots_for_a_while_then_rejoins_with_its_disk() -> None:
    world = booted(restart_seconds=(1.0, 1.0))
    host = world.hosts["m2"]
    world.crash(host)
    world.restart(host)
    assert host.state is HostState.RESTARTING and host.raft is None
    world.env.run(until=world.env.now + 0.9)
    assert host.state is HostState.RESTARTING
    world.env.run(until=world.env.now + 0.2)
    assert host.state is HostState.UP and host.incarnation == 2
    world.crash(host)
    world.restart(host)
    world.crash(host)  # crashed again while booting: the boot is cancelled
    world.env.run(until=world.env.now + 5.0)
    assert host.state is HostState.CRASHED


def test_a_replaced_member_comes_back_under_a_new_id() -> None:
    world = booted()
    before = {h.name: h.raft_id for h in world.hosts.values()}
    assert world.faults.start("replace-member", 5.0)
    world.env.run(until=world.env.now + 30.0)
    after = {h.name: h.raft_id for h in world.hosts.values()}
    changed = [name for name in before if before[name] != after[name]]
    assert len(changed) == 1 and after[changed[0]] == 6
    leader = world.leader_host()
    assert leader is not None and leader.raft is not None
    assert sorted(leader.raft.conf.voters) == sorted(after.values())
    assert before[changed[0]] in leader.raft.conf.removed
    assert world.stats["membership_changes"] == 2  # the removal and the re-addition


def test_acknowledged_proposals_are_applied_everywhere_after_a_clean_run() -> None:
    result = RaftWorld(WorldConfig(safety_seconds=60.0), 4).run()
    assert result.ok and result.acknowledged >= 30
    assert result.applied_index >= result.acknowledged


@pytest.mark.parametrize("name", ["crash-majority", "majorities-ring", "one-way-cut"])
def test_quorum_breaking_faults_heal_into_a_working_cluster(name: str) -> None:
    result = RaftWorld(
        WorldConfig(safety_seconds=120.0, nemeses=(name,), fault_interval=40.0), 2
    ).run()
    assert result.ok, result.violation or result.liveness_failure
    assert result.faults[name] >= 1
