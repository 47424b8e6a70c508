"""Test hosts: network between namespaces, faults, processes, and complete cleanup.

Traffic goes only between the test hosts' own addresses and loopback.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.tasks.executor import TaskFile
from real.agent.taskfiles import TaskFiles, files_root
from real.testhosts import firewall, network, procs, sweep
from real.testhosts.hosts import TestHost, TestHosts
from real.testhosts.naming import RunId
from real.testhosts.packages import BUSYBOX
from real.testhosts.probe import ping, udp_delivers

Make = Callable[..., TestHosts]

SLEEPER = [BUSYBOX, "sleep", "1000"]


def test_three_hosts_ping_each_other(testhosts: Make) -> None:
    hosts = testhosts(3)
    assert len({h.address for h in hosts}) == 3
    for src in hosts:
        for dst in hosts:
            assert ping(src, dst.address), f"{src} cannot ping {dst}"


def test_hosts_have_no_route_off_the_test_subnet(testhosts: Make) -> None:
    hosts = testhosts(2, subnet="10.231.7.0/24")
    for host in hosts:
        assert host.address.startswith("10.231.7.")
        routes = host.run(["ip", "-4", "route"]).stdout
        assert "default" not in routes
        assert "10.231.7.0/24 dev eth0" in routes
        assert network.links(host.netns) == ["eth0", "lo"]


def test_isolated_host_is_unreachable_both_ways_until_healed(testhosts: Make) -> None:
    hosts = testhosts(3)
    h1, h2, h3 = hosts
    hosts.isolate(h3)
    assert not ping(h1, h3.address)
    assert not ping(h3, h1.address)
    assert not udp_delivers(h3, h2)
    assert not udp_delivers(h2, h3)
    assert ping(h1, h2.address), "the others still reach each other"
    loopback = h3.run([sys.executable, "-c", _LOOPBACK])
    assert loopback.stdout.strip() == "ok", loopback.stderr
    hosts.heal()
    assert ping(h1, h3.address)
    assert ping(h3, h2.address)


_LOOPBACK = """
import socket
server = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(server.getsockname(), timeout=5)
print("ok")
"""


def test_one_way_cut_drops_one_direction_only(testhosts: Make) -> None:
    hosts = testhosts(3)
    h1, h2, h3 = hosts
    hosts.cut(h1, h2)
    assert not udp_delivers(h1, h2)
    assert udp_delivers(h2, h1)
    assert udp_delivers(h1, h3)
    assert udp_delivers(h3, h2)
    hosts.heal(h1)
    assert udp_delivers(h1, h2)


def test_rules_live_in_one_tagged_table_per_host(testhosts: Make) -> None:
    hosts = testhosts(2)
    h1, h2 = hosts
    hosts.cut(h1, h2)
    assert [t for t in _tables(h1) if "shoaltest" in t] == ["inet shoaltest"]
    assert f'comment "{hosts.run_id}:cut {h2.address}"' in _ruleset(h1)
    assert f"nft table inet shoaltest in {h1.netns}" in sweep.remains(hosts.run_id)
    hosts.heal()
    assert "drop" not in _ruleset(h1)


def test_spawn_logs_and_pause_resume(testhosts: Make) -> None:
    hosts = testhosts(1)
    (h1,) = hosts
    talker = h1.spawn(["sh", "-c", "echo out; echo err >&2; exec sleep 1000"], name="talker")
    assert _in_netns(talker.pid, h1.netns_path)
    talker.pause()
    assert _wait_for(lambda: talker.state() == "T")
    talker.resume()
    assert _wait_for(lambda: talker.state() not in ("T", None))
    assert _wait_for(lambda: talker.output() == "out\n" and talker.errors() == "err\n")


def test_host_pause_stops_everything_it_runs(testhosts: Make) -> None:
    hosts = testhosts(2)
    h1, h2 = hosts
    mine = h1.spawn(SLEEPER, name="sleeper")
    other = h2.spawn(SLEEPER, name="sleeper")
    hosts.pause(h1)
    assert _wait_for(lambda: mine.state() == "T")
    assert other.state() != "T"
    hosts.resume(h1)
    assert _wait_for(lambda: mine.state() not in ("T", None))


def test_crash_kills_with_sigkill_and_restart_runs_again(testhosts: Make) -> None:
    hosts = testhosts(2)
    h1, h2 = hosts
    # A child of a spawned process must die too (dockerd's containerd, say).
    parent = h1.spawn(["sh", "-c", f"{' '.join(SLEEPER)} & echo $!; wait"], name="parent")
    other = h2.spawn(SLEEPER, name="sleeper")
    assert _wait_for(lambda: parent.output().strip() != "")
    child = int(parent.output().split()[0])
    old = parent.pid
    hosts.crash(h1)
    assert parent.returncode == -9
    assert not procs.pids_in_netns(h1.netns_path)
    assert _wait_for(lambda: not _exists(child))
    assert other.alive()
    hosts.restart(h1)
    assert parent.alive() and parent.pid != old
    assert _wait_for(lambda: len(parent.output().split()) == 2), "log appended, not truncated"
    assert parent.kill() == -9


def test_everything_is_gone_after_close_even_on_failure() -> None:
    hosts = TestHosts(2)
    with pytest.raises(RuntimeError, match="boom"), hosts:
        hosts[0].spawn(SLEEPER, name="sleeper")
        hosts.cut(hosts[0], hosts[1])
        assert sweep.remains(hosts.run_id), "the run is visible while it lives"
        raise RuntimeError("boom")
    assert sweep.remains(hosts.run_id) == []
    assert not hosts[0].procs["sleeper"].alive()


def test_sweep_removes_what_a_killed_run_left(real_packages: None) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_RUN],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == -9, crashed.stderr
    run = RunId.parse(crashed.stdout.strip())
    assert run is not None and not run.alive()
    left = sweep.remains(run)
    assert any(item.startswith("netns") for item in left)
    assert any(item.startswith("pid") for item in left), left
    sweep.sweep()  # another xdist worker's session may sweep it first: both are fine
    assert sweep.remains(run) == []


def test_a_namespace_another_sweeper_removed_first_is_no_error(
    run_id: RunId, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parallel workers sweep the same dead run: one lists a namespace, the other
    deletes it, and the first must still finish its removal (CI failed on exactly this)."""
    name = run_id.name("h1")
    network.create_namespace(name)
    listed = network.namespaces()
    network.remove_namespace(name)
    for module in (sweep, network):  # every look sees the stale listing
        monkeypatch.setattr(module, "namespaces", lambda: listed)
    sweep.remove_run(run_id)
    monkeypatch.undo()
    assert name not in network.namespaces()


_CRASHING_RUN = """
import os, signal
from real.testhosts.hosts import TestHosts
hosts = TestHosts(2)
hosts.open()
hosts[0].spawn(["sleep", "1000"], name="sleeper")
hosts.isolate(hosts[1])
print(hosts.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_mount_left_in_a_host_dir_is_reported_and_removed(
    real_packages: None, tmp_path: Path
) -> None:
    run = RunId.new()
    leftover = tmp_path / run.name("h1") / "data"  # where a host's dockerd mounts
    leftover.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(leftover)], check=True)
    try:
        assert f"mount {leftover}" in sweep.remains(run, tmp_path)
        sweep.remove_run(run, tmp_path)
        assert sweep.remains(run, tmp_path) == []
    finally:
        subprocess.run(["umount", "-l", str(leftover)], capture_output=True, check=False)


def test_a_hosts_task_files_tmpfs_is_reported_and_removed(real_packages: None) -> None:
    """A daemon killed with -9 leaves its tasks' tmpfs mounted under /run/shoal."""
    run = RunId.new()
    files = TaskFiles(files_root(f"{run.name('h1')}-"))
    files.write("task1", [TaskFile("secret", "s1", "pw", "/run/secrets/pw", b"x")])
    try:
        left = sweep.remains(run)
        assert f"mount {files.root}" in left and any(item.startswith("dir ") for item in left)
        sweep.remove_run(run)
        assert sweep.remains(run) == []
    finally:
        subprocess.run(["umount", "-l", str(files.root)], capture_output=True, check=False)


def test_sweep_leaves_live_runs_alone(testhosts: Make) -> None:
    hosts = testhosts(1)
    sweep.sweep()
    assert any(i.startswith("netns") for i in sweep.remains(hosts.run_id))
    assert ping(hosts[0], hosts[0].address)


# -- helpers ----------------------------------------------------------------------------


def _tables(host: TestHost) -> list[str]:
    return firewall.tables(host.netns_path)


def _ruleset(host: TestHost) -> str:
    return firewall.ruleset(host.netns_path)


def _in_netns(pid: int, netns_path: str) -> bool:
    return pid in procs.pids_in_netns(netns_path)


def _exists(pid: int) -> bool:
    return procs.running(pid)


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until true or ``timeout`` passes (states change asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
