"""The world's moving parts driven by hand: fault schedules (random and fixed
timelines, one stream per nemesis, no gaps), pauses, power loss, restarts (the
restart nemesis among them), membership replacement, the hosts' starting clocks and
what the clock nemeses do to them, the liveness phase's clean network and the
client's acknowledgements."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.raft.types import Role
from sim.host import CLOCK_DRIFT_MAX_PPM, CLOCK_OFFSET_MAX, HostState
from sim.network import LinkModel
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


# -- clocks ----------------------------------------------------------------------------


def test_each_host_starts_with_its_own_clock_from_its_own_stream() -> None:
    five, three = RaftWorld(WorldConfig(managers=5), 9), RaftWorld(WorldConfig(managers=3), 9)
    clocks = {n: (h.clock.base_offset, h.clock.base_drift_ppm) for n, h in five.hosts.items()}
    assert {n: clocks[n] for n in three.hosts} == {
        n: (h.clock.base_offset, h.clock.base_drift_ppm) for n, h in three.hosts.items()
    }  # two more hosts shift no one else's clock
    assert len(set(clocks.values())) == 5
    for offset, drift in clocks.values():
        assert abs(offset) <= CLOCK_OFFSET_MAX and abs(drift) <= CLOCK_DRIFT_MAX_PPM
    assert RaftWorld(WorldConfig(managers=5), 10).hosts["m1"].clock.base_offset != clocks["m1"][0]
    host = five.hosts["m1"]
    assert host.clock.offset(0.0) == pytest.approx(clocks["m1"][0], abs=1e-6)
    assert host.clock.mono(1000.0) == pytest.approx(1000.0 * (1 + clocks["m1"][1] / 1e6))


def trace_of(tmp_path: Path, config: WorldConfig, seed: int, name: str) -> list[dict]:
    path = tmp_path / f"{name}.jsonl"
    assert RaftWorld(config, seed, path).run().ok
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_strobe_moves_wall_clocks_only_and_the_trace_shows_every_step(
    tmp_path: Path,
) -> None:
    calm = WorldConfig(safety_seconds=60.0)
    strobed = replace(calm, timeline=((20.0, "clock-strobe", 10.0),))
    plain, events = trace_of(tmp_path, calm, 5, "calm"), trace_of(tmp_path, strobed, 5, "strobe")
    config = events[0]
    assert sorted(config["clocks"]) == ["m1", "m2", "m3", "m4", "m5"]
    (fault,) = [e for e in events if e["kind"] == "fault"]
    steps = [e for e in events if e["kind"] == "clock"]
    assert len(steps) >= 10 and {e["host"] for e in steps} == {fault["victim"]}
    base = config["clocks"][fault["victim"]]
    offsets = [e["offset_s"] - base["offset_s"] for e in steps[:-1]]  # minus base drift
    assert offsets[0] == pytest.approx(fault["delta_s"], abs=1e-3)
    assert offsets[1] == pytest.approx(0.0, abs=1e-3)
    assert steps[-1]["t"] == pytest.approx(30.0)  # the reset onto the baseline
    assert all(e["drift_ppm"] == base["drift_ppm"] for e in steps)
    # Nothing in the Raft-only world reads wall time: every Raft event is the same.
    ignored = {"config", "fault", "fault-end", "clock", "end"}
    assert [e for e in events if e["kind"] not in ignored] == [
        e for e in plain if e["kind"] not in ignored
    ]
    assert events[-1]["stats"]["wall_clock_steps"] == len(steps)


def test_clock_skew_records_the_new_offset_and_puts_the_clock_back() -> None:
    world = booted()
    assert world.faults.start("clock-skew", 10.0)
    skew = world.faults.nemesis("clock-skew")
    host = skew.victim  # type: ignore[attr-defined]
    assert host.clock.drift_ppm != host.clock.base_drift_ppm
    world.env.run(until=world.env.now + 11.0)
    assert host.clock.drift_ppm == host.clock.base_drift_ppm
    now = world.env.now
    assert host.clock.offset(now) == pytest.approx(host.clock.base_offset_at(now), abs=1e-6)


# -- streams and schedules ------------------------------------------------------------


def test_each_nemesis_draws_from_its_own_stream() -> None:
    quiet, busy = booted(seed=3), booted(seed=3)
    assert busy.faults.start("loss-burst", 1.0)  # draws from nemesis/loss-burst only
    for world in (quiet, busy):
        assert world.faults.start("clock-skew", 5.0)
    picks = [
        (w.faults.nemesis("clock-skew").victim.name, w.hosts["m1"].clock.drift_ppm)  # type: ignore[attr-defined]
        for w in (quiet, busy)
    ]
    assert picks[0] == picks[1]


def test_the_schedules_timing_does_not_depend_on_what_the_nemeses_draw() -> None:
    def starts(nemesis: str) -> list[float]:
        config = WorldConfig(safety_seconds=120.0, nemeses=(nemesis,))
        return [at for at, _ in RaftWorld(config, 6).run().fault_starts]

    assert starts("loss-burst") == starts("clock-skew")


def test_a_drawn_nemesis_that_cannot_fire_gives_way_to_another() -> None:
    world = RaftWorld(WorldConfig(), 1)  # not booted: no leader to crash
    assert world.faults.start_one_of(["crash-leader"], 5.0) is None
    assert world.faults.start_one_of(["crash-leader", "loss-burst"], 5.0) == "loss-burst"
    assert world.faults.skipped["crash-leader"] >= 1
    assert [name for _, name in world.faults.starts] == ["loss-burst"]


def test_a_random_schedule_starts_a_fault_at_least_every_interval() -> None:
    # Crashing the leader often cannot fire (no leader yet, or just crashed): the
    # schedule draws another nemesis instead of leaving a gap.
    config = WorldConfig(safety_seconds=200.0, nemeses=("crash-leader", "replace-member", "bridge"))
    world = RaftWorld(config, 2)
    result = world.run()
    assert result.ok, result.violation or result.liveness_failure
    assert sum(world.faults.skipped.values()) >= 5  # draws that could not fire ...
    assert max(result.fault_gaps()) <= config.fault_interval  # ... left no gap
    assert result.faults["crash-leader"] >= 1


# -- the restart nemesis ----------------------------------------------------------------


def test_restart_crashes_a_process_and_boots_it_at_once_keeping_the_page_cache() -> None:
    world = booted(managers=1, restart_seconds=(1.0, 1.0))
    host = world.hosts["m1"]
    index = world.client.propose_on(host, b"unsynced")
    assert index and host.disk.pending  # written, not yet fsynced
    assert world.faults.start("restart", 5.0)
    assert host.state is HostState.RESTARTING and host.raft is None
    assert world.stats["writes_lost"] == 0
    assert host.disk.durable.entries[-1].data == b"unsynced"  # the page cache kept it
    world.env.run(until=world.env.now + 1.5)
    assert host.state is HostState.UP and host.incarnation == 2
    world.env.run(until=world.env.now + 30.0)
    assert host.role is Role.LEADER and host.chain.applied_index >= index


def test_restart_under_a_random_schedule_stays_safe_and_live() -> None:
    result = RaftWorld(WorldConfig(safety_seconds=120.0, nemeses=("restart",)), 3).run()
    assert result.ok, result.violation or result.liveness_failure
    assert result.faults["restart"] >= 12 and result.stats["writes_lost"] == 0


# -- fixed timelines ---------------------------------------------------------------------

TIMELINE = (
    (30.0, "crash-leader", 8.0),
    (45.0, "majorities-ring", 15.0),
    (65.0, "clock-skew", 10.0),
    (70.0, "loss-burst", 20.0),
    (85.0, "restart", 5.0),
    (100.0, "partition-random-halves", 40.0),  # still on when the safety phase ends
)


def test_a_fixed_timeline_runs_through_safety_then_liveness(tmp_path: Path) -> None:
    config = WorldConfig(safety_seconds=120.0, timeline=TIMELINE)
    path = tmp_path / "timeline.jsonl"
    result = RaftWorld(config, 4, path).run()
    assert result.ok, result.violation or result.liveness_failure
    assert result.fault_starts == [(at, name) for at, name, _ in TIMELINE]
    assert result.converged_after is not None
    events = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    liveness = kinds.index("liveness-phase")
    assert events[liveness]["t"] == 120.0
    assert kinds.count("fault") == len(TIMELINE) and "fault" not in kinds[liveness:]
    ends = [e for e in events[liveness:] if e["kind"] == "fault-end"]
    assert [e["nemesis"] for e in ends] == ["partition-random-halves"]  # stopped to heal
    again = RaftWorld(config, 4).run()
    assert again.trace_hash == result.trace_hash


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nemeses": ("pause",)}, "one fault schedule"),
        ({"timeline": ((130.0, "pause", 5.0),)}, "outside the 120s safety phase"),
        ({"timeline": ((10.0, "flood", 5.0),)}, "unknown nemesis flood"),
        ({"timeline": ((10.0, "pause", 0.0),)}, "positive duration"),
    ],
)
def test_a_timeline_is_checked_when_configured(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldConfig(**{"safety_seconds": 120.0, "timeline": TIMELINE, **changes})


# -- the liveness phase's network -------------------------------------------------------


def test_the_liveness_phase_runs_on_a_clean_network() -> None:
    lossy = LinkModel(0.001, 0.002, loss=0.1, duplicate=0.1, reorder=0.3)
    world = booted(link=lossy)
    world.network.links[("m1", "m2")] = LinkModel(0.004, 0.001, loss=0.5, duplicate=0.5)
    world.env.run(until=world.env.now + 30.0)
    assert world.network.stats["lost"] and world.network.stats["duplicated"]
    world.heal_everything()
    assert world.network.model == LinkModel(0.001, 0.002)
    assert world.network.links == {("m1", "m2"): LinkModel(0.004, 0.001)}
    before = dict(world.network.stats)
    world.env.run(until=world.env.now + 30.0)
    after = world.network.stats
    assert after["sent"] > before["sent"]
    assert (after["lost"], after["duplicated"]) == (before["lost"], before["duplicated"])


def test_a_lossy_swarm_seed_converges_once_the_network_is_clean() -> None:
    lossy = LinkModel(loss=0.2, duplicate=0.2, reorder=0.5)
    world = RaftWorld(WorldConfig(safety_seconds=60.0, link=lossy, nemeses=("bridge",)), 8)
    result = world.run()
    assert result.ok, result.violation or result.liveness_failure
    assert world.network.model == LinkModel()
