"""Each filter of the pipeline on its own, and the explanation Docker prints when a
task fits nowhere (SCHED-08, SCHED-10, SCHED-17, SCHED-18)."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InvalidSpec
from core.model import replace
from core.model.common import Driver
from core.model.enums import MountType, NodeAvailability, NodeRole, NodeState
from core.model.node import Node
from core.model.service import ContainerSpec, Mount, TaskSpec, VolumeOptions
from core.model.task import Task
from core.scheduler.constraint import parse_constraint
from core.scheduler.filters import (
    ConstraintFilter,
    Filter,
    HostPortFilter,
    MaxReplicasFilter,
    PlatformFilter,
    PluginFilter,
    ReadyFilter,
    ResourceFilter,
    TaskNeeds,
)
from core.scheduler.nodeinfo import NodeInfo
from tests.scheduler.support import (
    GiB,
    MiB,
    discrete,
    host_port,
    named,
    node,
    running_on,
    schedule,
    spec,
    tasks,
)


def needs(**options: Any) -> TaskNeeds:
    return TaskNeeds.of(tasks("web", 1, task_spec=spec(**options))[0])


def passes(flt: type[Filter], task_needs: TaskNeeds, info: NodeInfo) -> bool:
    assert flt.enabled(task_needs)
    return bool(flt.check(task_needs, info))


# -- ready ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "availability", "fits"),
    [
        (NodeState.READY, NodeAvailability.ACTIVE, True),
        (NodeState.DOWN, NodeAvailability.ACTIVE, False),
        (NodeState.UNKNOWN, NodeAvailability.ACTIVE, False),
        (NodeState.DISCONNECTED, NodeAvailability.ACTIVE, False),
        (NodeState.READY, NodeAvailability.PAUSE, False),
        (NodeState.READY, NodeAvailability.DRAIN, False),
    ],
)
def test_only_ready_active_nodes_take_tasks(
    state: NodeState, availability: NodeAvailability, fits: bool
) -> None:
    info = NodeInfo(node("n1", state=state, availability=availability))
    assert passes(ReadyFilter, needs(), info) is fits


# -- resources --------------------------------------------------------------------------


def test_resources_are_checked_only_when_reserved() -> None:
    assert not ResourceFilter.enabled(needs())
    assert ResourceFilter.enabled(needs(cpus=0.5))
    assert ResourceFilter.enabled(needs(memory=MiB))
    assert ResourceFilter.enabled(needs(generic=(discrete("gpu", 1),)))


def test_cpu_and_memory_must_be_free_after_what_the_node_runs() -> None:
    one_cpu = spec(cpus=1, memory=GiB)
    info = NodeInfo(
        node("n1", cpus=2, memory=3 * GiB),
        tuple(running_on("n1", tasks("a", 1, task_spec=one_cpu))),
    )
    assert passes(ResourceFilter, needs(cpus=1), info)
    assert not passes(ResourceFilter, needs(cpus=1.5), info)
    assert passes(ResourceFilter, needs(memory=2 * GiB), info)
    assert not passes(ResourceFilter, needs(memory=2 * GiB + 1), info)


def test_tasks_being_shut_down_still_hold_their_reservation() -> None:
    # A task counts against the node until it is no longer ASSIGNED..RUNNING.
    stopping = [
        replace(t, desired_state=t.desired_state.SHUTDOWN)
        for t in running_on("n1", tasks("a", 1, task_spec=spec(cpus=2)))
    ]
    info = NodeInfo(node("n1", cpus=2), tuple(stopping))
    assert not passes(ResourceFilter, needs(cpus=1), info)
    assert info.active_tasks == 0


def test_generic_resources_count_discrete_and_named_kinds() -> None:
    gpus = (named("gpu", "GPU-0"), named("gpu", "GPU-1"), discrete("fpga", 3))
    info = NodeInfo(node("n1", generic=gpus))
    assert passes(ResourceFilter, needs(generic=(discrete("gpu", 2),)), info)
    assert not passes(ResourceFilter, needs(generic=(discrete("gpu", 3),)), info)
    assert passes(ResourceFilter, needs(generic=(discrete("fpga", 3),)), info)
    assert not passes(ResourceFilter, needs(generic=(discrete("tpu", 1),)), info)


def test_named_generic_resources_are_claimed_by_name_and_given_back() -> None:
    gpus = (named("gpu", "GPU-0"), named("gpu", "GPU-1"))
    decisions = schedule(
        [node("n1", generic=gpus)], tasks("ml", 2, task_spec=spec(generic=(discrete("gpu", 1),)))
    )
    claimed = [d.new.generic_resources for d in decisions]
    assert claimed == [(named("gpu", "GPU-0"),), (named("gpu", "GPU-1"),)]
    info = NodeInfo(node("n1", generic=gpus))
    _, stored = info.add_task(decisions[0].new)
    assert stored.generic_resources == (named("gpu", "GPU-0"),)  # kept, not claimed again
    assert info.free_generic.named == {"gpu": ["GPU-1"]}
    assert info.remove_task(stored.id)
    assert info.free_generic.named == {"gpu": ["GPU-1", "GPU-0"]}


# -- plugins ----------------------------------------------------------------------------


def with_volume_driver(task: Task, driver: str) -> Task:
    mount = Mount(
        type=MountType.VOLUME,
        source="data",
        target="/data",
        volume_options=VolumeOptions(driver_config=Driver(name=driver)),
    )
    container = ContainerSpec(image="busybox", mounts=(mount,))
    return replace(task, spec=replace(task.spec, container_spec=container))


def test_a_volume_plugin_must_be_on_the_node() -> None:
    task = with_volume_driver(tasks("db", 1)[0], "rexray")
    wanted = TaskNeeds.of(task)
    with_plugin = NodeInfo(
        node("n1", plugins=(("Volume", "rexray:latest"), ("Network", "overlay")))
    )
    without = NodeInfo(node("n2", plugins=(("Volume", "local"), ("Network", "overlay"))))
    assert passes(PluginFilter, wanted, with_plugin)
    assert not passes(PluginFilter, wanted, without)
    assert not PluginFilter.enabled(TaskNeeds.of(with_volume_driver(task, "local")))


def test_a_node_that_reports_no_plugins_is_not_filtered() -> None:
    wanted = TaskNeeds.of(with_volume_driver(tasks("db", 1)[0], "rexray"))
    assert passes(PluginFilter, wanted, NodeInfo(node("n1")))


def test_a_log_driver_is_checked_only_on_nodes_that_list_log_drivers() -> None:
    task = tasks("web", 1)[0]
    task = replace(task, spec=replace(task.spec, log_driver=Driver(name="gelf")))
    wanted = TaskNeeds.of(task)
    assert passes(PluginFilter, wanted, NodeInfo(node("n1", plugins=(("Log", "gelf"),))))
    assert not passes(PluginFilter, wanted, NodeInfo(node("n2", plugins=(("Log", "json-file"),))))
    assert passes(PluginFilter, wanted, NodeInfo(node("n3", plugins=(("Volume", "local"),))))


# -- constraints --------------------------------------------------------------------------


LABELLED = node(
    "abc123",
    labels={"rack": "r1", "Zone": "EU"},
    engine_labels={"storage": "ssd"},
    role=NodeRole.MANAGER,
    arch="aarch64",
    addr="10.1.2.3",
)


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("node.id==abc123", True),
        ("node.id!=abc123", False),
        ("node.hostname==host-abc123", True),
        ("node.HOSTNAME==HOST-ABC123", True),  # keys and values ignore case
        ("node.role==manager", True),
        ("node.role!=worker", True),
        ("node.platform.os==linux", True),
        ("node.platform.arch==aarch64", True),
        ("node.labels.rack==r1", True),
        ("node.labels.rack==R1", True),
        ("node.labels.rack!=r1", False),
        ("node.labels.zone==EU", False),  # label names are case-sensitive
        ("node.labels.Zone==eu", True),
        ("node.labels.missing!=x", True),  # a missing label reads as ""
        ("node.labels.missing==x", False),
        ("engine.labels.storage==ssd", True),
        ("engine.labels.storage!=ssd", False),
        ("node.ip==10.1.2.3", True),
        ("node.ip==10.1.2.4", False),
        ("node.ip==10.1.0.0/16", True),
        ("node.ip!=10.1.0.0/16", False),
        ("node.ip!=192.168.0.0/16", True),
    ],
)
def test_each_constraint_key(text: str, fits: bool) -> None:
    assert passes(ConstraintFilter, needs(constraints=(text,)), NodeInfo(LABELLED)) is fits


def test_constraints_are_anded() -> None:
    both = needs(constraints=("node.labels.rack==r1", "node.role==worker"))
    assert not passes(ConstraintFilter, both, NodeInfo(LABELLED))
    assert not ConstraintFilter.enabled(needs())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("node.role=manager", "a constraint is key==value or key!=value"),
        ("node.colour==red", "unknown constraint key 'node.colour'"),
        ("9node.id==x", "is not a valid constraint key"),
        ("node.labels.rack==", "the constraint has no value"),
        ("node.labels.rack==a<b", "holds characters not allowed"),
        ("node.ip==10.0.0.300", "node.ip takes an IP address or a CIDR"),
    ],
)
def test_malformed_constraints_name_the_field_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=r"^invalid Placement\.Constraints\[2\] ") as caught:
        parse_constraint("Placement.Constraints[2]", text)
    assert problem in str(caught.value)


# -- platform -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platforms", "fits"),
    [
        ((("linux", "amd64"),), False),
        ((("linux", "arm64"),), True),  # aarch64 is arm64
        ((("linux", "aarch64"),), True),
        ((("", "arm64"),), True),
        ((("windows", ""),), False),
        ((("windows", "amd64"), ("linux", "")), True),
    ],
)
def test_the_platform_must_be_one_the_image_supports(
    platforms: tuple[tuple[str, str], ...], fits: bool
) -> None:
    assert passes(PlatformFilter, needs(platforms=platforms), NodeInfo(LABELLED)) is fits


def test_x86_64_and_amd64_are_one_architecture() -> None:
    assert passes(PlatformFilter, needs(platforms=(("linux", "amd64"),)), NodeInfo(node("n1")))


# -- host ports and max replicas ----------------------------------------------------------


def test_a_host_mode_port_allows_one_task_per_node() -> None:
    # SCHED-17: 3 replicas publishing host port 8080 on 2 nodes: one stays pending.
    decisions = schedule([node("n1"), node("n2")], tasks("web", 3, endpoint=host_port(8080)))
    assigned = [d.new.node_id for d in decisions if d.new.node_id]
    pending = [d.new for d in decisions if not d.new.node_id]
    assert sorted(assigned) == ["n1", "n2"]
    assert [t.status.err for t in pending] == [
        "no suitable node (host-mode port already in use on 2 nodes)"
    ]


def test_a_host_port_blocks_other_services_but_not_other_ports() -> None:
    busy = NodeInfo(node("n1"), tuple(running_on("n1", tasks("a", 1, endpoint=host_port(8080)))))
    other = TaskNeeds.of(tasks("b", 1, endpoint=host_port(8080))[0])
    free = TaskNeeds.of(tasks("b", 1, endpoint=host_port(8081))[0])
    assert not passes(HostPortFilter, other, busy)
    assert passes(HostPortFilter, free, busy)
    assert not HostPortFilter.enabled(TaskNeeds.of(tasks("c", 1, endpoint=host_port(0))[0]))


def test_max_replicas_per_node() -> None:
    capped = spec(max_replicas=2)
    info = NodeInfo(node("n1"), tuple(running_on("n1", tasks("web", 2, task_spec=capped))))
    assert not passes(MaxReplicasFilter, needs(max_replicas=2), info)
    assert passes(MaxReplicasFilter, needs(max_replicas=3), info)
    assert not MaxReplicasFilter.enabled(needs())


# -- explanations ----------------------------------------------------------------------------


def err_of(nodes: list[Node], pending: list[Task]) -> str:
    decisions = schedule(nodes, pending)
    errors = {d.new.status.err for d in decisions}
    assert len(errors) == 1 and all(d.new.status.state.name == "PENDING" for d in decisions)
    return errors.pop()


@pytest.mark.parametrize(
    ("nodes", "task_spec", "err"),
    [
        (
            [node("n1", availability=NodeAvailability.DRAIN)],
            spec(),
            "no suitable node (1 node not available for new tasks)",
        ),
        (
            [node(f"n{i}", state=NodeState.DOWN) for i in range(3)],
            spec(),
            "no suitable node (3 nodes not available for new tasks)",
        ),
        (
            [node("n1", cpus=1), node("n2", cpus=1)],
            spec(cpus=4),
            "no suitable node (insufficient resources on 2 nodes)",
        ),
        (
            [node("n1")],
            spec(memory=500 * 1024 * GiB),
            "no suitable node (insufficient resources on 1 node)",
        ),
        (
            [node(f"n{i}") for i in range(3)]
            + [node(f"m{i}", labels={"rack": "r1"}, cpus=1) for i in range(2)],
            spec(cpus=2, constraints=("node.labels.rack==r1",)),
            # Each node counts under the first filter it fails; most failures first.
            "no suitable node (scheduling constraints not satisfied on 3 nodes; "
            "insufficient resources on 2 nodes)",
        ),
        (
            [node("n1", availability=NodeAvailability.PAUSE), node("n2", cpus=1)],
            spec(cpus=2),
            # A tie keeps the pipeline's order.
            "no suitable node (1 node not available for new tasks; "
            "insufficient resources on 1 node)",
        ),
        (
            [node("n1", arch="arm64"), node("n2", arch="s390x")],
            spec(platforms=(("linux", "amd64"),)),
            "no suitable node (unsupported platform on 2 nodes)",
        ),
    ],
)
def test_unplaceable_tasks_stay_pending_with_dockers_explanation(
    nodes: list[Node], task_spec: TaskSpec, err: str
) -> None:
    assert err_of(nodes, tasks("web", 2, task_spec=task_spec)) == err


def test_missing_plugin_and_max_replicas_explanations() -> None:
    task = with_volume_driver(tasks("db", 1)[0], "rexray")
    assert err_of([node("n1", plugins=(("Volume", "local"),))], [task]) == (
        "no suitable node (missing plugin on 1 node)"
    )
    capped = tasks("web", 2, task_spec=spec(max_replicas=1))
    decisions = schedule([node("n1")], capped)
    assert [d.new.status.err for d in decisions] == [
        "",
        "no suitable node (max replicas per node limit exceed)",
    ]


def test_no_nodes_at_all_says_no_suitable_node() -> None:
    assert err_of([], tasks("web", 1)) == "no suitable node"
