"""Autolock in a simulated swarm (issue 19): the unlock key lives in the cluster and
follows ``swarm update --autolock`` and ``unlock-key --rotate``; every manager (never
a worker) wraps its data key under it; a manager that restarts stays locked, refusing
everything in dockerd's words, until ``swarm unlock`` gives it the current key."""

from __future__ import annotations

import re

from core.manager import autolock
from core.manager.requests import ALREADY_IN_SWARM
from core.model import replace
from core.model.cluster import Cluster, ClusterSpec, EncryptionConfig
from sim.cluster import ClusterWorld, HostState
from tests.cluster.support import node_id, node_state, replicated, running, swarm

KEY = re.compile(r"SWMKEY-1-[A-Za-z0-9+/]{43}")


def _spec(world: ClusterWorld, autolock_on: bool) -> ClusterSpec:
    reply = world.call("manager-1", "SwarmInspect")
    assert reply.ok and isinstance(reply.value, Cluster)
    spec = reply.value.spec
    return replace(spec, encryption_config=EncryptionConfig(auto_lock_managers=autolock_on))


def _set_autolock(world: ClusterWorld, on: bool) -> str:
    reply = world.call("manager-1", "SwarmUpdate", spec=_spec(world, on))
    assert reply.ok, reply.error
    return _key(world)


def _key(world: ClusterWorld) -> str:
    """Asked of the last manager: a follower forwards it to the leader."""
    last = max(name for name in world.hosts if name.startswith("manager"))
    reply = world.call(last, "SwarmUnlockKey")
    assert reply.ok, reply.error
    return str(reply.value)


def _told(world: ClusterWorld) -> dict[str, str]:
    """The key each host's data key is wrapped under now."""
    return {name: world.hosts[name].unlock_key for name in sorted(world.hosts)}


def _settle(world: ClusterWorld, key: str) -> dict[str, str]:
    world.run_for(5)
    told = _told(world)
    assert told == {name: key if name.startswith("manager") else "" for name in sorted(world.hosts)}
    return told


def test_autolock_on_rotate_and_off_reach_every_manager_and_no_worker() -> None:
    world = swarm(31, managers=3, workers=2)
    assert _key(world) == ""
    _settle(world, "")
    before = {name: world.hosts[name].credentials for name in sorted(world.hosts)}
    key = _set_autolock(world, True)
    assert KEY.fullmatch(key), key
    _settle(world, key)
    world.run_for(10)
    for name, old in before.items():  # managers' TLS keys were under a key in the clear
        now = world.hosts[name].credentials
        assert old is not None and now is not None
        assert (now.key_pem != old.key_pem) == name.startswith("manager"), name
    inspected = world.call("manager-1", "SwarmInspect").value
    assert isinstance(inspected, Cluster)
    assert inspected.unlock_key == "" and "UnlockKey" not in inspected.to_json()
    assert inspected.spec.encryption_config.auto_lock_managers
    # an update that leaves autolock on keeps the key; a rotation replaces it
    assert _set_autolock(world, True) == key
    rotated = world.call(
        "manager-1", "SwarmUpdate", spec=_spec(world, True), rotate_manager_unlock_key=True
    )
    assert rotated.ok, rotated.error
    new_key = _key(world)
    assert KEY.fullmatch(new_key) and new_key != key
    _settle(world, new_key)
    assert _set_autolock(world, False) == ""
    _settle(world, "")


def test_a_restarted_manager_stays_locked_until_unlocked_with_the_current_key() -> None:
    world = swarm(32, managers=3, workers=2)
    service = world.call("manager-1", "ServiceCreate", spec=replicated("web", 4))
    assert service.ok, service.error
    old_key = _set_autolock(world, True)
    world.call("manager-1", "SwarmUpdate", spec=_spec(world, True), rotate_manager_unlock_key=True)
    key = _key(world)
    _settle(world, key)
    host = world.hosts["manager-3"]
    world.restart(host)
    assert host.state is HostState.LOCKED and host.node is None
    world.run_for(20)
    assert host.state is HostState.LOCKED
    assert node_state(world, "manager-3").value == "down"
    refused = world.call("manager-3", "NodeList")
    assert not refused.ok and refused.error == autolock.LOCKED and refused.code == "Unavailable"
    leave = world.call("manager-3", "SwarmLeave", force=False)
    assert not leave.ok and leave.error == autolock.LEAVE_LOCKED
    for method in ("SwarmInit", "SwarmJoin"):  # dockerd: it has a node, if a locked one
        again = world.call("manager-3", method)
        assert (again.ok, again.error) == (False, ALREADY_IN_SWARM), method
    for wrong, error, code in (
        ("", autolock.NOT_A_KEY, "InvalidArgument"),
        (key[:-2], autolock.NOT_A_KEY, "InvalidArgument"),  # 41 characters: no base64
        (key[:-1], autolock.INVALID_KEY, "Unauthenticated"),  # 31 bytes: a key, not its
        ("SWMKEY-2-" + key[9:], autolock.NOT_A_KEY, "InvalidArgument"),
        (old_key, autolock.INVALID_KEY, "Unauthenticated"),  # the rotated one no longer opens
    ):
        reply = world.call("manager-3", "SwarmUnlock", key=wrong)
        assert (reply.ok, reply.error, reply.code) == (False, error, code), wrong
        assert host.state is HostState.LOCKED
    unlocked = world.call("manager-3", "SwarmUnlock", key=key)
    assert unlocked.ok, unlocked.error
    assert host.state is HostState.UP
    assert world.run_until(lambda: node_state(world, "manager-3").value == "ready", 60)
    again = world.call("manager-3", "SwarmUnlock", key=key)
    assert (again.ok, again.error, again.code) == (False, autolock.NOT_LOCKED, "Conflict")
    assert world.call("manager-3", "NodeList").ok
    assert len(running(world, str(service.value))) == 4


def test_workers_and_unlocked_swarms_restart_unlocked() -> None:
    world = swarm(33, managers=3, workers=2)
    _set_autolock(world, True)
    _settle(world, _key(world))
    worker = world.hosts["worker-1"]
    world.restart(worker)
    assert worker.state is HostState.UP
    worker_unlock = world.call("worker-1", "SwarmUnlock", key=_key(world))
    assert not worker_unlock.ok and "not a swarm manager" in (worker_unlock.error or "")
    _set_autolock(world, False)
    _settle(world, "")
    manager = world.hosts["manager-2"]
    world.restart(manager)
    assert manager.state is HostState.UP


def test_swarm_init_with_autolock_and_a_forced_leave_of_a_locked_manager() -> None:
    world = swarm(34, managers=1, workers=0)
    _set_autolock(world, True)
    key = _key(world)
    _settle(world, key)
    host = world.hosts["manager-1"]
    world.restart(host)
    assert host.state is HostState.LOCKED
    left = world.call("manager-1", "SwarmLeave", force=True)
    assert left.ok, left.error
    assert host.state is HostState.UP and host.identity is None and host.unlock_key == ""
    init = world.call(
        "manager-1",
        "SwarmInit",
        spec=ClusterSpec(encryption_config=EncryptionConfig(auto_lock_managers=True)),
    )
    assert init.ok, init.error
    assert world.run_until(lambda: host.unlock_key != "", 30)
    fresh = _key(world)
    assert KEY.fullmatch(fresh) and fresh != key and host.unlock_key == fresh


def test_a_demoted_manager_drops_its_raft_state_and_its_lock() -> None:
    """A worker keeps no copy of the store (secrets and all) under keys in the clear:
    SwarmKit's manager stops with clearData when demoted."""
    world = swarm(35, managers=3, workers=1)
    key = _set_autolock(world, True)
    _settle(world, key)
    host = world.hosts["manager-3"]
    assert host.disk.durable.entries or host.disk.durable.snapshot.data
    demoted = world.call("manager-1", "NodeUpdate", node=node_id(world, "manager-3"), role="worker")
    assert demoted.ok, demoted.error
    assert world.run_until(lambda: host.node is not None and host.node.manager is None, 60)
    world.run_for(5)
    assert host.unlock_key == "" and not host.disk.durable.entries
    assert not host.disk.durable.snapshot.data
    world.restart(host)
    assert host.state is HostState.UP
