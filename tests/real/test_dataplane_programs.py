"""The host data plane's programs (real/agent/programs.py, real/agent/dataplane.py)
with the kernel left out: only the latest program runs, a failed one is retried,
and a network a task has joined outlives a program that leaves it out."""

from __future__ import annotations

import threading
from typing import Any

from core.allocator.vni import overlay_driver
from core.dataplane.state import NetworkState
from core.model.network import IPAMConfig, IPAMOptions, Network, NetworkAttachment, NetworkSpec
from core.model.task import Task
from real.agent.dataplane import HostDataplane
from real.agent.programs import LatestPrograms

WAIT = 30.0  # seconds a test waits for a thread before it fails


def test_only_the_latest_of_the_programs_waiting_runs() -> None:
    ran: list[int] = []
    release = threading.Event()

    def run(wanted: int) -> None:
        if wanted == 1:
            release.wait(WAIT)  # 2, 3 and 4 come while 1 runs
        ran.append(wanted)

    programs: LatestPrograms[int] = LatestPrograms(run)
    try:
        programs.submit(1)
        assert not programs.idle(0.05)
        for wanted in (2, 3, 4):
            programs.submit(wanted)
        release.set()
        assert programs.idle(WAIT)
        assert ran == [1, 4]
    finally:
        programs.close()


def test_a_failed_program_is_tried_again_until_a_newer_one_replaces_it() -> None:
    attempts: list[str] = []
    failing = {"old"}

    def run(wanted: str) -> None:
        attempts.append(wanted)
        if wanted in failing:
            raise OSError("netlink said no")

    programs: LatestPrograms[str] = LatestPrograms(run, retry_initial=0.01, retry_max=0.02)
    try:
        programs.submit("old")
        assert _until(lambda: attempts.count("old") >= 3), attempts
        programs.submit("new")
        assert programs.idle(WAIT)
        assert attempts[-1] == "new" and programs.failures >= 3
        count = len(attempts)
        assert programs.idle(0.1) and len(attempts) == count, "a program that worked ran again"
    finally:
        programs.close()


def test_a_newer_program_does_not_wait_out_a_failed_ones_pause() -> None:
    attempts: list[str] = []

    def run(wanted: str) -> None:
        attempts.append(wanted)
        if wanted == "old":
            raise OSError("netlink said no")

    programs: LatestPrograms[str] = LatestPrograms(run, retry_initial=3600, retry_max=3600)
    try:
        programs.submit("old")
        assert _until(lambda: programs.failures == 1)
        programs.submit("new")  # during the hour's pause
        assert programs.idle(WAIT), "the newer program waited out the pause"
        assert attempts == ["old", "new"]
    finally:
        programs.close()


def test_close_finishes_the_program_under_way_and_drops_what_waits() -> None:
    ran: list[int] = []
    started, release = threading.Event(), threading.Event()

    def run(wanted: int) -> None:
        started.set()
        release.wait(WAIT)
        ran.append(wanted)

    programs: LatestPrograms[int] = LatestPrograms(run)
    programs.submit(1)
    assert started.wait(WAIT)
    programs.submit(2)  # waits behind 1
    closing = threading.Thread(target=programs.close)
    closing.start()
    assert _until(lambda: programs._closed)
    release.set()
    closing.join(WAIT)
    assert not closing.is_alive() and ran == [1]


def _until(condition: Any) -> bool:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return False


# -- a joined network outlives a program that leaves it out ----------------------------------


class FakeOverlay:
    def __init__(self) -> None:
        self.applied: list[list[str]] = []
        self.attached: list[tuple[str, str]] = []

    def apply(self, states: dict[str, NetworkState]) -> None:
        self.applied.append(sorted(states))

    def attach(self, state: NetworkState, address: str, netns_path: str, ifname: str) -> None:
        self.attached.append((state.network_id, address))


class FailingOverlay(FakeOverlay):
    def apply(self, states: dict[str, NetworkState]) -> None:
        if self.attached:  # after a task joined: the kernel refuses
            raise OSError("netlink said no")
        super().apply(states)


class Resolvers:
    """An embedded DNS server that records the sandboxes it serves."""

    def __init__(self) -> None:
        self.serving: set[str] = set()

    def add(self, task_id: str, netns_path: str, states: Any) -> None:
        self.serving.add(task_id)

    def remove(self, task_id: str) -> None:
        self.serving.discard(task_id)


class Nothing:
    """A balancer, ingress and DNS server that do nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _network(network_id: str, vni: int, subnet: str) -> Network:
    return Network(
        id=network_id,
        spec=NetworkSpec(name=network_id),
        ipam_options=IPAMOptions(configs=(IPAMConfig(subnet=subnet, gateway=subnet[:-4] + "1"),)),
        driver_state=overlay_driver(vni),
    )


def test_a_network_a_task_joined_stays_through_a_program_without_it() -> None:
    back = _network("back", 4098, "10.0.2.0/24")
    overlay = FakeOverlay()
    dataplane = HostDataplane("x-", "10.9.0.1", balancer=Nothing(), dns=Nothing())  # type: ignore[arg-type]
    dataplane.overlay, dataplane.node_id = overlay, "n1"  # type: ignore[assignment]
    dataplane.ingress = Nothing()  # type: ignore[assignment]
    front_state = NetworkState("front", "front", 4097, "10.0.1.0/24", "10.0.1.1")
    dataplane.program("n1", {"front": front_state})
    task = Task(
        id="t1",
        node_id="n1",
        networks_attachments=(NetworkAttachment(network=back, addresses=("10.0.2.5/24",)),),
    )
    dataplane.attach(task, "/proc/1/ns/net")
    assert overlay.attached == [("back", "10.0.2.5/24")]
    assert dataplane.has_joined("t1")
    dataplane.program("n1", {"front": front_state})  # a word sent before the task joined
    assert overlay.applied[-1] == ["back", "front"], "the task's network was torn down"
    dataplane.detach("t1")
    assert overlay.applied[-1] == ["front"], "the network stayed after its last task left"
    assert not dataplane.has_joined("t1")


def test_a_failed_teardown_still_stops_the_tasks_dns() -> None:
    back = _network("back", 4098, "10.0.2.0/24")
    resolvers = Resolvers()
    dataplane = HostDataplane("x-", "10.9.0.1", balancer=Nothing(), dns=resolvers)  # type: ignore[arg-type]
    dataplane.overlay, dataplane.node_id = FailingOverlay(), "n1"  # type: ignore[assignment]
    dataplane.ingress = Nothing()  # type: ignore[assignment]
    task = Task(
        id="t1",
        node_id="n1",
        networks_attachments=(NetworkAttachment(network=back, addresses=("10.0.2.5/24",)),),
    )
    dataplane.attach(task, "/proc/1/ns/net")
    assert resolvers.serving == {"t1"}
    dataplane.detach("t1")  # the network's teardown fails: the next program retries it
    assert resolvers.serving == set()
