"""``shoal real run``'s partition and faults with an amount, without hosts: the network
shape follows the simulator's rules (an isolation and a partition replace one another,
``heal`` ends both and the link faults), each fault and its end reach the carrier, an
inventory lacking a fault's command is refused by name before anything runs, and what
is still not built is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.scenario.schema import ScenarioError, parse
from real.scenario import testbed
from real.scenario.inventory import Inventory, InventoryHost
from real.scenario.runner import run
from real.scenario.shape import WHOLE, HostShape, NetworkShape
from real.scenario.support import refuse_unsupported
from sim.faults import topology
from sim.faults.scenario import partition_graph
from sim.streams import Streams

NAMES = ["a", "b", "c"]


def shapes(network: NetworkShape) -> dict[str, HostShape]:
    return {host: wanted for host, _, wanted in network.changes()}


def test_an_isolation_and_a_partition_replace_one_another() -> None:
    network = NetworkShape(NAMES)
    network.isolate("a")
    assert shapes(network) == {"a": HostShape(isolated=True)}
    cut = topology.one_way_cut(topology.full(NAMES), "b", ["c"])
    network.partition(cut)
    assert shapes(network) == {"a": WHOLE, "b": HostShape(unreachable=("c",))}
    network.isolate("c")  # the partition's graph gone: both isolations, as in sim
    assert shapes(network) == {
        "a": HostShape(isolated=True),
        "b": WHOLE,
        "c": HostShape(isolated=True),
    }
    network.end_isolation("a")
    assert shapes(network) == {"a": WHOLE}
    network.partition(cut)
    network.end_partition()  # whole, though c is still listed as isolated
    assert shapes(network) == {"c": WHOLE}
    network.isolate("b")  # ... and comes back with the next isolation
    assert set(shapes(network)) == {"b", "c"}
    network.heal()
    assert shapes(network) == {"b": WHOLE, "c": WHOLE}
    assert shapes(network) == {}


class Recorder:
    """A carrier that writes down what it is asked (no daemons: every look is empty)."""

    hosts = (("manager-1", True), ("worker-1", False), ("worker-2", False))

    def __init__(self) -> None:
        self.calls: list[str] = []

    def refusal(self, verb: str, host: str) -> str:
        return ""

    def socket(self, host: str) -> str:
        return "/nowhere.sock"

    def strike(self, verb: str, host: str, task_id: str = "") -> None:
        self.calls.append(f"{verb} {host}")

    def shape(self, host: str, held: HostShape, wanted: HostShape) -> None:
        told = "isolated" if wanted.isolated else ",".join(wanted.unreachable) or "whole"
        self.calls.append(f"shape {host} {told}")

    def fault(self, verb: str, host: str, amount: float) -> None:
        self.calls.append(f"{verb} {host} {amount:g}")

    def containers_on(self, host: str) -> int | None:
        return None

    def request(self, host: str, task_id: str, target: str, port: int, count: int) -> list[str]:
        return [""] * count

    def resolve(self, host: str, task_id: str, name: str) -> tuple[str, ...] | None:
        return None


FAULTS = """
cluster: {managers: 1, workers: 2}
steps:
  - {at: 0s, fault: loss worker-1 20%, for: 1s}
  - {at: 0s, fault: duplicate worker-2 10%}
  - {at: 0s, fault: delay manager-1 50ms, for: 1s}
  - {at: 0s, fault: skew worker-1 +40s, for: 1s}
  - {at: 0s, fault: stall-disk worker-2, for: 1s}
  - {at: 0s, fault: partition majority-ring, for: 1s}
  - {at: 1.5s, fault: isolate worker-1}
  - {at: 2s, fault: heal}
duration: 2.5s
"""


def test_each_fault_and_its_end_reach_the_carrier() -> None:
    carrier = Recorder()
    report = run(parse(FAULTS), carrier)  # type: ignore[arg-type]
    calls = carrier.calls
    assert calls[:5] == [
        "loss worker-1 0.2",
        "duplicate worker-2 0.1",
        "delay manager-1 0.05",
        "skew worker-1 40",
        "stall-disk worker-2 1",
    ]
    ring = [c for c in calls[5:] if c.startswith("shape ")][:3]
    assert len(ring) == 3 and all(not c.endswith(("whole", "isolated")) for c in ring)
    ends = calls[8:]
    for undone in ("loss worker-1 0", "delay manager-1 0", "skew worker-1 0"):
        assert undone in ends
    assert "stall-disk worker-2 0" in ends
    assert calls[-3:] == ["shape worker-1 isolated", "shape worker-1 whole", "duplicate worker-2 0"]
    assert [what for _, _, what in report.timeline.faults] == [
        "loss worker-1",
        "delay manager-1",
        "skew worker-1",
        "stall-disk worker-2",
        "partition majority-ring",
        "duplicate worker-2",
        "isolate worker-1",
    ]


@pytest.mark.parametrize("shape", ["halves", "bridge"])
def test_each_partition_shape_reaches_the_carrier_as_the_simulator_draws_it(shape: str) -> None:
    text = (
        f"cluster: {{managers: 1, workers: 2}}\nsteps:\n  - {{at: 0s, fault: partition {shape}}}\n"
    )
    carrier = Recorder()
    run(parse(text + "duration: 0.5s\n"), carrier)  # type: ignore[arg-type]
    names = [name for name, _ in carrier.hosts]
    graph = partition_graph(shape, names, Streams(1).child("scenario"))
    wanted = [
        f"shape {a} " + ",".join(b for b in names if b != a and not graph.has_edge(a, b))
        for a in names
        if any(b != a and not graph.has_edge(a, b) for b in names)
    ]
    assert carrier.calls == wanted and wanted


def inventory(tmp_path: Path, **commands: str) -> Inventory:
    scenario = parse(FAULTS)
    entries = {
        name: InventoryHost(name, str(tmp_path / f"{name}.sock"), dict(commands))
        for name, _ in scenario.hosts
    }
    return Inventory(scenario, entries, "inventory.yml")


def test_an_inventory_lacking_a_faults_command_is_refused_by_name(tmp_path: Path) -> None:
    everything = {
        v: "true"
        for v in ("loss", "duplicate", "delay", "skew", "stall-disk", "cut", "heal", "isolate")
    }
    refuse_unsupported(parse(FAULTS), inventory(tmp_path, **everything), "this inventory")
    for lacking, message in (
        ("loss", ":4: fault: loss worker-1 20%: the inventory gives no 'loss' command for "),
        ("cut", ":9: fault: partition majority-ring: the inventory gives no 'cut' command for "),
        ("stall-disk", ":8: fault: stall-disk worker-2: the inventory gives no 'stall-disk'"),
    ):
        fewer = {k: v for k, v in everything.items() if k != lacking}
        with pytest.raises(ScenarioError, match=message):
            refuse_unsupported(parse(FAULTS), inventory(tmp_path, **fewer), "this inventory")


def test_an_inventory_runs_a_faults_command_with_its_amount(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    carrier = inventory(
        tmp_path,
        loss=f"echo $SHOAL_HOST loss $SHOAL_AMOUNT >> {marks}",
        cut=f"echo $SHOAL_HOST cut $SHOAL_PEER >> {marks}",
        heal=f"echo $SHOAL_HOST heal >> {marks}",
    )
    carrier.fault("loss", "worker-1", 0.2)
    carrier.shape("worker-1", WHOLE, HostShape(unreachable=("manager-1", "worker-2")))
    carrier.shape("worker-1", HostShape(unreachable=("manager-1",)), WHOLE)
    carrier.fault("loss", "worker-1", 0.0)
    assert marks.read_text().splitlines() == [
        "worker-1 loss 20",
        "worker-1 cut manager-1",
        "worker-1 cut worker-2",
        "worker-1 heal",
        "worker-1 loss 0",
    ]


class _Hosts:
    """What a testbed asks of its test hosts, written down."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def __getitem__(self, index: int) -> str:
        return ["h1", "h2"][index]

    def pause(self, host: str) -> None:
        self.calls.append(f"pause {host}")

    def resume(self, host: str) -> None:
        self.calls.append(f"resume {host}")

    def crash(self, host: str) -> None:
        self.calls.append(f"crash {host}")

    def restart(self, host: str) -> None:
        self.calls.append(f"restart {host}")


class _Swarm:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def start_daemon(self, host: str) -> None:
        self.calls.append(f"wait for {host}")

    def test_fault(self, host: str, fault: str, amount: float) -> dict[str, object]:
        self.calls.append(f"ask {host} {fault} {amount:g}")
        return {}


def test_a_daemon_is_asked_its_faults_when_it_can_answer_again() -> None:
    """A paused daemon cannot answer, a crashed one forgets: each is asked for the
    faults it should have when it resumes or boots, a skew as a reset and one step."""
    bed = testbed.Testbed(parse("cluster: {managers: 1, workers: 1}\n"))
    calls: list[str] = []
    bed.test_hosts, bed.swarm = _Hosts(calls), _Swarm(calls)  # type: ignore[assignment]
    bed.fault("skew", "worker-1", 40.0)
    bed.strike("pause", "worker-1")
    bed.fault("delay", "worker-1", 0.05)
    bed.fault("skew", "worker-1", -2.0)
    assert calls == ["ask h2 skew 0", "ask h2 skew 40", "pause h2"]
    bed.strike("resume", "worker-1")
    assert calls[3:] == [
        "resume h2",
        "ask h2 delay 0.05",
        "ask h2 skew 0",
        "ask h2 skew 38",
        "ask h2 stall-disk 0",
    ]
    del calls[:]
    bed._drop_docker = lambda host: None  # type: ignore[method-assign]
    bed.strike("restart", "worker-1")
    assert calls == [
        "crash h2",
        "restart h2",
        "wait for h2",
        "ask h2 delay 0.05",
        "ask h2 skew 0",
        "ask h2 skew 38",
        "ask h2 stall-disk 0",
    ]
