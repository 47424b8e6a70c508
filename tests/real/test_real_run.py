"""``shoal real run``: the shipped scenarios' real copies pass on test hosts; what test
hosts cannot do is refused before any host is built; a false expectation fails the
run; an inventory of running daemons runs a scenario with its own fault commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from core.model.enums import NodeState
from core.model.node import Node, NodeStatus
from core.model.task import Task, TaskStatus
from core.store import MemoryStore
from core.tasks.states import TaskState
from real.scenario import testbed
from real.scenario.checks import RaftWatch, TaskWatch
from real.scenario.view import Info, RealView
from real.testhosts.hosts import TestHosts
from real.testhosts.swarm import DAEMON, ShoalSwarm
from sim.cluster_checks import TaskViolation
from sim.raft_checks import SafetyViolation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "real"
#: The real copies of simulated scenarios (the local busybox image for nginx).
REAL_COPIES = ("worker-crash", "leader-crash", "drain-and-return")


def shoal(capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, dict[str, Any], str]:
    status = main(["real", "run", *words, "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out) if captured.out.strip() else {}
    return status, report, captured.err


def nowhere_inventory(tmp_path: Path) -> Path:
    """An inventory of manager-1 and worker-1 whose sockets lead nowhere."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "hosts:\n  manager-1: {socket: 'unix:///nowhere/m1.sock'}\n"
        "  worker-1: {socket: 'unix:///nowhere/w1.sock'}\n"
    )
    return inventory


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in report.get("verdicts", []) if not v["passed"]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        *(
            SCENARIOS / f"{name}.yml"
            for name in ("worker-crash", "leader-crash", "drain-and-return")
        ),
        # one file for both modes (tests/cli/test_scenarios.py runs it simulated): a
        # client reaches web by its VIP over VXLAN, the mesh answers on a host with no
        # web task, and a partitioned task leaves and rejoins the backends
        SCENARIOS.parent / "web-client-partition.yml",
        # a secret reaches exactly the nodes of its tasks, and moves with a rotation
        SCENARIOS.parent / "secret-scoping.yml",
        # a compose file deployed, redeployed over a change by hand, and removed
        SCENARIOS.parent / "stack-deploy.yml",
        # loss, duplication, delay, a clock step, a stalled disk and a majorities ring
        SCENARIOS.parent / "host-nemeses.yml",
        # a root CA rotation the judge follows through swarm inspect, across a leader crash
        SCENARIOS.parent / "ca-rotation.yml",
    ],
    ids=lambda path: path.stem,
)
def test_the_shipped_scenarios_pass_on_test_hosts(
    path: Path, real_packages: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report, err = shoal(capsys, str(path))
    assert status == 0, (failed(report), err[-3000:])
    assert report["passed"] and report["verdicts"]
    assert all(v["passed"] for v in report["verdicts"])


def test_traffic_expectations_are_refused_with_an_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = nowhere_inventory(tmp_path)
    path = tmp_path / "traffic.yml"
    path.write_text(
        "cluster: {managers: 1, workers: 1}\n"
        "expect:\n  at:\n    - {at: 5s, check: request 3 times to worker-1:8080 fails}\n"
        "duration: 6s\n"
    )
    assert main(["real", "run", str(path), "--hosts", str(inventory)]) == 1
    err = capsys.readouterr().err
    assert "sends traffic, which needs shoal's own test hosts" in err


def test_a_fault_test_hosts_cannot_do_is_refused_before_any_host_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    monkeypatch.setattr(testbed, "TestHosts", lambda *a, **k: built.append("built"))
    path = tmp_path / "pull.yml"
    path.write_text(
        "cluster: {managers: 1, workers: 1}\n"
        "steps:\n"
        "  - {at: 0s, fault: loss manager-1 20%, for: 2s}\n"  # built: no refusal
        "  - {at: 5s, fault: pull-fails busybox:2 on manager-1}\n"
        "expect:\n"
        "  by: [{at: 10s, check: service web running 1/1}]\n"
    )
    assert main(["real", "run", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: fault: pull-fails: test hosts cannot do it (there is no registry" in err
    assert "Traceback" not in err
    assert built == []


def test_a_simulator_knob_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "images.yml"
    path.write_text(
        "cluster: {managers: 1, images: {app:1: {exit_after: 1}}}\n"
        "expect: {always: [raft safety]}\n"
    )
    assert main(["real", "run", str(path)]) == 1
    assert "cluster.images: test hosts cannot run this" in capsys.readouterr().err


SMALL = """\
name: small
cluster: {managers: 1, workers: 1}
steps:
  - {at: 0s, run: service create --name web --replicas 2 --stop-grace-period 1s local/busybox:1}
  - {at: 8s, fault: pause worker-1, for: 4s}
expect:
  always: [raft safety, task invariants]
  by:
    - {at: 8s, check: service web running 2/2}
  at:
    - {at: 20s, check: %s}
duration: 21s
"""


@pytest.mark.slow
def test_a_false_expectation_fails_the_run_with_exit_2(
    tmp_path: Path, real_packages: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "false.yml"
    path.write_text(SMALL % "service web running 3/3")  # planted: it runs 2
    status, report, _ = shoal(capsys, str(path))
    assert status == 2
    assert [v["expectation"] for v in failed(report)] == ["at 20s: service web running 3/3"]
    assert failed(report)[0]["seen"] == "running 2/2"


@pytest.mark.slow
def test_an_inventory_of_running_daemons_runs_a_scenario(
    tmp_path: Path,
    testhosts: Callable[..., TestHosts],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hosts = testhosts(2, docker=True)
    names = {"h1": "manager-1", "h2": "worker-1"}
    swarm = ShoalSwarm(hosts, hostnames=names)
    swarm.start()
    swarm.form(["h1"], ["h2"])
    worker = hosts["h2"].procs[DAEMON]
    marks = tmp_path / "faults.log"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "hosts:\n"
        f"  manager-1: {{socket: 'unix://{swarm.socket('h1')}'}}\n"
        "  worker-1:\n"
        f"    socket: 'unix://{swarm.socket('h2')}'\n"
        f"    pause: 'echo $SHOAL_HOST paused >> {marks} && kill -STOP {worker.pid}'\n"
        f"    resume: 'echo $SHOAL_HOST resumed >> {marks} && kill -CONT {worker.pid}'\n"
    )
    path = tmp_path / "small.yml"
    path.write_text(SMALL % "node worker-1 ready")
    status, report, err = shoal(capsys, str(path), "--hosts", str(inventory))
    assert status == 0, (failed(report), err[-3000:])
    assert marks.read_text().split("\n")[:2] == ["worker-1 paused", "worker-1 resumed"]


def test_an_inventory_without_a_fault_command_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = nowhere_inventory(tmp_path)
    path = tmp_path / "small.yml"
    path.write_text(SMALL % "node worker-1 ready")
    assert main(["real", "run", str(path), "--hosts", str(inventory)]) == 1
    err = capsys.readouterr().err
    assert ":5: fault: pause worker-1: the inventory gives no 'pause' command for worker-1" in err


def test_a_broken_inventory_is_named_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("hosts:\n  manager-1: {socket: /tmp/x.sock}\n")
    path = tmp_path / "small.yml"
    path.write_text(SMALL % "node worker-1 ready")
    assert main(["real", "run", str(path), "--hosts", str(inventory)]) == 1
    err = capsys.readouterr().err
    assert "hosts.manager-1.socket: '/tmp/x.sock' is not unix:///PATH" in err
    assert "Traceback" not in err


# -- the real checkers, fed looks by hand (no hosts) ----------------------------------------


def _view(
    leading: str, term: int, commit: int, *tasks: Task, infos: dict[str, Info] | None = None
) -> RealView:
    store = MemoryStore()
    store.tables["nodes"] = {"n1": Node(id="n1", status=NodeStatus(state=NodeState.READY))}
    store.tables["tasks"] = {t.id: t for t in tasks}
    shown = infos or {leading: Info(leading, True, term, commit, commit)}
    return RealView(leading, store, shown)


def _task(state: TaskState) -> Task:
    return Task(id="t1", node_id="n1", status=TaskStatus(state=state))


def test_two_leaders_in_one_term_break_raft_safety() -> None:
    watch = RaftWatch()
    watch.look(_view("manager-1", 2, 5))
    watch.look(_view("manager-2", 3, 6))  # a new term: a new leader is fine
    with pytest.raises(SafetyViolation, match="election safety"):
        watch.look(_view("manager-1", 3, 7))


def test_a_commit_index_going_back_breaks_raft_safety_unless_the_daemon_restarted() -> None:
    watch = RaftWatch()
    watch.look(_view("manager-1", 2, 9))
    watch.forget("manager-1")  # crashed by the run: it counts from its disk again
    watch.look(_view("manager-1", 2, 4))
    with pytest.raises(SafetyViolation, match="commits never go back"):
        watch.look(_view("manager-1", 2, 3))


def test_a_task_state_falling_under_one_leadership_breaks_the_task_invariants() -> None:
    watch = TaskWatch()
    watch.look(0.0, _view("manager-1", 2, 5, _task(TaskState.RUNNING)))
    watch.look(0.5, _view("manager-2", 3, 6, _task(TaskState.ASSIGNED)))  # another leader
    with pytest.raises(TaskViolation, match="states only rise"):
        watch.look(1.0, _view("manager-2", 3, 7, _task(TaskState.PENDING)))
