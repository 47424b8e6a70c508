"""The object model: ids, defaults, validation messages, the JSON codec's rules."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidSpec
from core.model import (
    Cluster,
    ContainerSpec,
    EndpointSpec,
    Labels,
    Node,
    Placement,
    PortConfig,
    ReplicatedService,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskSpec,
    UpdateConfig,
    replace,
)
from core.model.common import Limit, ResourceRequirements, Resources
from core.model.defaults import (
    effective_job,
    effective_replicas,
    effective_restart_policy,
    effective_stop_grace_period_ns,
    effective_update_config,
    interpolate_service_spec,
)
from core.model.duration import HOUR, SECOND
from core.model.enums import (
    FailureAction,
    PublishMode,
    ResolutionMode,
    RestartCondition,
    UpdateOrder,
)
from core.model.ids import ID_LENGTH, base36, is_id, new_id
from core.model.service import GlobalJob, GlobalService, ReplicatedJob
from core.model.timestamp import GO_ZERO_TIME, Timestamp
from core.model.validate import (
    validate_cluster_spec,
    validate_constraint,
    validate_service_spec,
)
from core.tasks.states import TaskState

# -- ids --------------------------------------------------------------------------------


def test_ids_are_25_lowercase_base36_characters() -> None:
    rng = random.Random(7)
    ids = [new_id(rng) for _ in range(1000)]
    assert all(len(i) == ID_LENGTH and is_id(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_come_only_from_the_handed_in_generator() -> None:
    assert [new_id(random.Random(3)) for _ in range(2)] == [new_id(random.Random(3))] * 2
    assert new_id(random.Random(3)) != new_id(random.Random(4))


def test_the_largest_128_bit_id_still_fits_25_characters() -> None:
    assert len(base36(2**128 - 1, ID_LENGTH)) == ID_LENGTH
    assert base36(0, 3) == "000" and base36(35, 1) == "z"


# -- defaults (DESIGN.md section 3) -----------------------------------------------------


def test_update_config_defaults_are_swarms() -> None:
    config = UpdateConfig()
    assert (
        config.parallelism,
        config.delay_ns,
        config.failure_action,
        config.monitor_ns,
        config.max_failure_ratio,
        config.order,
    ) == (1, 0, FailureAction.PAUSE, 5 * SECOND, 0.0, UpdateOrder.STOP_FIRST)


def test_restart_policy_defaults_are_swarms() -> None:
    policy = RestartPolicy()
    assert (policy.condition, policy.delay_ns, policy.max_attempts, policy.window_ns) == (
        RestartCondition.ANY,
        5 * SECOND,
        0,
        None,
    )


def test_cluster_defaults_are_swarms() -> None:
    spec = Cluster().spec
    assert spec.name == "default"
    assert spec.orchestration.task_history_retention_limit == 5
    assert (
        spec.raft.snapshot_interval,
        spec.raft.log_entries_for_slow_followers,
        spec.raft.election_tick,
        spec.raft.heartbeat_tick,
    ) == (10_000, 500, 10, 1)
    assert spec.dispatcher.heartbeat_period_ns == 5 * SECOND
    assert spec.ca_config.node_cert_expiry_ns == 2160 * HOUR


def test_unset_fields_take_defaults_through_one_module() -> None:
    assert effective_update_config(None).monitor_ns == 5 * SECOND
    wire_zero = UpdateConfig(parallelism=3, failure_action=None, monitor_ns=0, order=None)
    effective = effective_update_config(wire_zero)
    assert (
        effective.parallelism,
        effective.failure_action,
        effective.monitor_ns,
        effective.order,
    ) == (3, FailureAction.PAUSE, 5 * SECOND, UpdateOrder.STOP_FIRST)
    assert (
        effective_restart_policy(RestartPolicy(condition=None, delay_ns=None)).delay_ns
        == 5 * SECOND
    )
    assert effective_restart_policy(RestartPolicy(delay_ns=0)).delay_ns == 0
    assert effective_stop_grace_period_ns(ContainerSpec(image="x")) == 10 * SECOND
    assert (
        effective_replicas(
            ServiceSpec(mode=ServiceMode(replicated=ReplicatedService(replicas=None)))
        )
        == 1
    )
    assert effective_job(ReplicatedJob(max_concurrent=3)).total_completions == 3


def test_interpolation_fills_every_unset_field_and_keeps_set_ones() -> None:
    spec = ServiceSpec(
        name="web",
        task_template=TaskSpec(container_spec=ContainerSpec(image="nginx")),
        update_config=UpdateConfig(parallelism=4, monitor_ns=0),
    )
    full = interpolate_service_spec(spec)
    assert full.update_config.parallelism == 4 and full.update_config.monitor_ns == 5 * SECOND
    assert full.rollback_config == UpdateConfig()
    assert full.task_template.restart_policy == RestartPolicy()
    assert full.task_template.container_spec.stop_grace_period_ns == 10 * SECOND


def test_new_task_desires_running_and_starts_new() -> None:
    task = Task()
    assert task.desired_state is TaskState.RUNNING and task.status.state is TaskState.NEW


# -- validation ------------------------------------------------------------------------


def valid_spec(**changes: object) -> ServiceSpec:
    spec = ServiceSpec(
        name="web", task_template=TaskSpec(container_spec=ContainerSpec(image="nginx:1.25"))
    )
    return replace(spec, **changes)


def test_a_plain_service_spec_is_valid() -> None:
    validate_service_spec(valid_spec())


def test_failure_ratio_out_of_range_names_field_value_and_rule() -> None:
    with pytest.raises(InvalidSpec) as caught:
        validate_service_spec(valid_spec(update_config=UpdateConfig(max_failure_ratio=1.5)))
    assert str(caught.value) == "invalid UpdateConfig.MaxFailureRatio 1.5: must be in [0, 1]"
    assert caught.value.field == "UpdateConfig.MaxFailureRatio"


INVALID = [
    (dict(name=""), 'invalid ServiceSpec.Name "": a name must be provided'),
    (dict(name="web site"), 'invalid ServiceSpec.Name "web site": must be valid as a DNS name'),
    (dict(name="-web"), "must be valid as a DNS name"),
    (dict(name="x" * 64), "at most 63 characters"),
    (dict(name="web\n"), "must be valid as a DNS name"),  # $ matches before a final newline
    (dict(task_template=TaskSpec()), "invalid TaskTemplate.ContainerSpec <nil>"),
    (dict(task_template=TaskSpec(container_spec=ContainerSpec(image=" "))), "ContainerSpec.Image"),
    (
        dict(rollback_config=UpdateConfig(delay_ns=-1)),
        "invalid RollbackConfig.Delay -1: must not be negative",
    ),
    (dict(update_config=UpdateConfig(monitor_ns=-5)), "invalid UpdateConfig.Monitor -5"),
    (dict(update_config=UpdateConfig(parallelism=-1)), "UpdateConfig.Parallelism"),
    (dict(mode=ServiceMode()), "invalid ServiceSpec.Mode 0: exactly one mode must be set"),
    (
        dict(mode=ServiceMode(global_=GlobalService(), replicated=ReplicatedService())),
        "exactly one mode",
    ),
    (
        dict(mode=ServiceMode(global_job=GlobalJob()), update_config=UpdateConfig()),
        "global-job services may not have an update config",
    ),
    (
        dict(
            endpoint_spec=EndpointSpec(
                mode=ResolutionMode.DNSRR, ports=(PortConfig(target_port=80),)
            )
        ),
        "port published with ingress mode can't be used with dnsrr mode",
    ),
    (
        dict(endpoint_spec=EndpointSpec(ports=(PortConfig(target_port=0),))),
        "EndpointSpec.Ports[0].TargetPort 0",
    ),
    (
        dict(
            endpoint_spec=EndpointSpec(
                ports=(
                    PortConfig(target_port=80, published_port=8080),
                    PortConfig(target_port=81, published_port=8080),
                )
            )
        ),
        "duplicate published ports provided",
    ),
]


@pytest.mark.parametrize(("changes", "message"), INVALID)
def test_invalid_service_specs_are_refused_with_the_field_named(
    changes: dict, message: str
) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidSpec) as caught:
        validate_service_spec(valid_spec(**changes))
    assert message in str(caught.value)
    assert str(caught.value).startswith("invalid ")


def test_host_mode_ports_may_use_dnsrr() -> None:
    port = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    validate_service_spec(
        valid_spec(endpoint_spec=EndpointSpec(mode=ResolutionMode.DNSRR, ports=(port,)))
    )


@pytest.mark.parametrize(
    "text",
    [
        "node.role==manager",
        "node.labels.rack != r1",
        "engine.labels.os==linux",
        "node.hostname==worker-3",
        "node.ip==10.0.0.0/8",
    ],
)
def test_well_formed_constraints_pass(text: str) -> None:
    validate_constraint("Placement.Constraints[0]", text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("node.role=manager", "key==value or key!=value"),
        ("node.colour==red", "unknown constraint key 'node.colour'"),
        ("node.labels.==x", "unknown constraint key"),
        ("node.role==", "has no value"),
    ],
)
def test_malformed_constraints_are_refused(text: str, problem: str) -> None:
    spec = valid_spec(
        task_template=TaskSpec(
            container_spec=ContainerSpec(image="x"), placement=Placement(constraints=(text,))
        )
    )
    with pytest.raises(InvalidSpec, match=r"Placement\.Constraints\[0\]") as caught:
        validate_service_spec(spec)
    assert problem in str(caught.value)


def test_cluster_raft_ticks_must_be_ordered() -> None:
    spec = Cluster().spec
    validate_cluster_spec(spec)
    with pytest.raises(
        InvalidSpec, match=r"Raft\.ElectionTick 1: must be greater than HeartbeatTick"
    ):
        validate_cluster_spec(replace(spec, raft=replace(spec.raft, election_tick=1)))


# -- the JSON codec ----------------------------------------------------------------------


def test_unknown_keys_are_refused_with_their_path() -> None:
    with pytest.raises(InvalidSpec) as caught:
        Service.from_json(
            {"Spec": {"TaskTemplate": {"ContainerSpec": {"Image": "x", "Imgae": "y"}}}}
        )
    assert str(caught.value).startswith('invalid Service.Spec.TaskTemplate.ContainerSpec.Imgae "y"')


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (
            {"Spec": {"Mode": {"Replicated": {"Replicas": "3"}}}},
            'Service.Spec.Mode.Replicated.Replicas "3": expected an integer',
        ),
        ({"Spec": {"Mode": {"Replicated": {"Replicas": True}}}}, "expected an integer"),
        (
            {
                "Spec": {
                    "UpdateConfig": {"Parallelism": 1, "Order": "sideways", "MaxFailureRatio": 0}
                }
            },
            "must be one of stop-first, start-first",
        ),
        ({"CreatedAt": "yesterday"}, 'Service.CreatedAt "yesterday": not an RFC 3339 timestamp'),
        ({"Spec": {"Labels": {"a": 1}}}, "Service.Spec.Labels.a 1: expected a string"),
        ({"Spec": {"TaskTemplate": {"Networks": {}}}}, "expected an array"),
    ],
)
def test_ill_typed_values_are_refused_with_their_path(document: dict, fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidSpec) as caught:
        Service.from_json(document)
    assert fragment in str(caught.value)


def test_task_states_travel_as_lowercase_names() -> None:
    task = Task(desired_state=TaskState.SHUTDOWN)
    document = task.to_json()
    assert document["DesiredState"] == "shutdown" and document["Status"]["State"] == "new"
    assert Task.from_json(document) == task


def test_go_omitempty_rules() -> None:
    document = Node().to_json()
    assert "ManagerStatus" not in document  # nil pointer left out
    assert document["Description"]["Platform"] == {}  # empty struct kept
    assert document["Spec"]["Labels"] == {}  # not omitempty: written even when empty
    assert (
        UpdateConfig(max_failure_ratio=0.0).to_json()["MaxFailureRatio"] == 0
    )  # Go writes 0, not 0.0
    assert "Delay" not in UpdateConfig().to_json()
    assert (
        RestartPolicy(max_attempts=0).to_json()["MaxAttempts"] == 0
    )  # set pointer to zero is kept


def test_labels_are_immutable_sorted_and_hashable() -> None:
    labels = Labels({"b": "2", "a": "1"})
    assert list(labels) == ["a", "b"] and labels == {"a": "1", "b": "2"}
    assert hash(labels) == hash(Labels(a="1", b="2"))
    assert labels.updated({"c": "3"}).without(["a"]) == {"b": "2", "c": "3"}
    assert labels == {"a": "1", "b": "2"}
    with pytest.raises(TypeError):
        labels["a"] = "x"  # type: ignore[index]


def test_model_objects_are_frozen() -> None:
    spec = valid_spec()
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


@given(st.integers(min_value=GO_ZERO_TIME.unix_ns, max_value=253402300799 * 10**9))
def test_timestamps_format_and_parse_back_exactly(unix_ns: int) -> None:
    stamp = Timestamp(unix_ns)
    assert Timestamp.parse(stamp.format()) == stamp


def test_timestamps_print_like_go() -> None:
    assert (
        Timestamp.parse("2026-11-22T05:41:52.96654801Z").format() == "2026-11-22T05:41:52.96654801Z"
    )
    assert GO_ZERO_TIME.format() == "0001-01-01T00:00:00Z"
    assert Timestamp.parse("2026-11-22T06:41:52+01:00") == Timestamp.parse("2026-11-22T05:41:52Z")
    assert Timestamp.from_seconds(1.5).format() == "1970-01-01T00:00:01.5Z"


names = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
update_configs = st.builds(
    UpdateConfig,
    parallelism=st.integers(0, 100),
    delay_ns=st.integers(0, 10**12),
    failure_action=st.none() | st.sampled_from(list(FailureAction)),
    monitor_ns=st.integers(0, 10**12),
    max_failure_ratio=st.floats(0, 1, allow_nan=False),
    order=st.none() | st.sampled_from(list(UpdateOrder)),
)
specs = st.builds(
    ServiceSpec,
    name=names,
    labels=st.dictionaries(names, st.text(max_size=5), max_size=3).map(Labels),
    task_template=st.builds(
        TaskSpec,
        container_spec=st.builds(
            ContainerSpec,
            image=names,
            args=st.lists(st.text(max_size=5), max_size=3).map(tuple),
            init=st.none() | st.booleans(),
            stop_grace_period_ns=st.none() | st.integers(0, 10**11),
        ),
        restart_policy=st.none()
        | st.builds(
            RestartPolicy,
            condition=st.none() | st.sampled_from(list(RestartCondition)),
            delay_ns=st.none() | st.integers(0, 10**11),
            max_attempts=st.none() | st.integers(0, 9),
            window_ns=st.none() | st.integers(0, 10**11),
        ),
        placement=st.none()
        | st.builds(
            Placement,
            constraints=st.lists(names.map(lambda n: f"node.labels.{n}==x"), max_size=2).map(tuple),
        ),
        force_update=st.integers(0, 5),
    ),
    mode=st.sampled_from(
        [
            ServiceMode(replicated=ReplicatedService(replicas=3)),
            ServiceMode(global_=GlobalService()),
            ServiceMode(replicated_job=ReplicatedJob(max_concurrent=2, total_completions=5)),
            ServiceMode(global_job=GlobalJob()),
        ]
    ),
    update_config=st.none() | update_configs,
    rollback_config=st.none() | update_configs,
)


@given(specs)
def test_any_service_spec_survives_the_json_round_trip(spec: ServiceSpec) -> None:
    assert ServiceSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("limits", "reservations", "message"),
    [
        (
            None,
            Resources(nano_cpus=-1),
            "invalid Resources.Reservations.NanoCPUs -1: must be at least 0.001 CPU",
        ),
        (
            Limit(nano_cpus=999_999),
            None,
            "invalid Resources.Limits.NanoCPUs 999999: must be at least",
        ),
        (
            None,
            Resources(memory_bytes=-5),
            "invalid Resources.Reservations.MemoryBytes -5: must be at least 4MiB",
        ),
        (
            Limit(memory_bytes=4),
            None,
            "invalid Resources.Limits.MemoryBytes 4: must be at least 4MiB",
        ),
        (
            Limit(memory_bytes=64 << 20),
            Resources(memory_bytes=128 << 20),
            "invalid Resources.Reservations.MemoryBytes 134217728: must not exceed the limit",
        ),
    ],
)
def test_resources_below_swarmkits_floors_or_above_the_limit_are_refused(
    limits: Limit | None, reservations: Resources | None, message: str
) -> None:
    spec = valid_spec(
        task_template=TaskSpec(
            container_spec=ContainerSpec(image="x"),
            resources=ResourceRequirements(limits=limits, reservations=reservations),
        )
    )
    with pytest.raises(InvalidSpec, match="^" + re.escape(message)):
        validate_service_spec(spec)


def test_resources_at_the_floors_and_within_limits_pass() -> None:
    spec = valid_spec(
        task_template=TaskSpec(
            container_spec=ContainerSpec(image="x"),
            resources=ResourceRequirements(
                limits=Limit(nano_cpus=1_000_000, memory_bytes=8 << 20),
                reservations=Resources(nano_cpus=1_000_000, memory_bytes=4 << 20),
            ),
        )
    )
    validate_service_spec(spec)


def test_json_reads_keys_and_nulls_as_go_does() -> None:
    """docker-py sends ``{"replicated": {"Replicas": 4}}`` and the docker CLI sends
    ``"Labels": null``; Go's decoder matches keys ignoring case (an exact key first)
    and reads null as the zero value (nil for pointers)."""
    mode = ServiceMode.from_json({"replicated": {"replicas": 4}})
    assert mode.replicated == ReplicatedService(replicas=4)
    both = ServiceMode.from_json({"replicated": {"Replicas": 5}, "Replicated": {"Replicas": 4}})
    assert both.replicated == ReplicatedService(replicas=4)
    spec = ServiceSpec.from_json(
        {
            "Name": "web",
            "Labels": None,
            "TaskTemplate": {"ContainerSpec": {"Image": "x", "Env": None}},
        }
    )
    assert spec.labels == {} and spec.task_template.container_spec is not None
    assert spec.task_template.container_spec.env == ()
    with pytest.raises(InvalidSpec, match="unknown field"):
        ServiceMode.from_json({"replicatd": {}})


def test_a_spread_over_no_label_is_accepted_as_swarmkit_accepts_it() -> None:
    """docker-py's own tests spread over ``com.dockerpy.test``: SwarmKit takes it and
    its scheduler puts every node in that preference's one ``""`` branch."""
    from core.model.service import Placement, PlacementPreference, SpreadOver

    spread = PlacementPreference(spread=SpreadOver(spread_descriptor="com.dockerpy.test"))
    template = TaskSpec(
        container_spec=ContainerSpec(image="nginx"), placement=Placement(preferences=(spread,))
    )
    validate_service_spec(valid_spec(task_template=template))
    with pytest.raises(InvalidSpec, match="only spread preferences exist"):
        bare = TaskSpec(
            container_spec=ContainerSpec(image="nginx"),
            placement=Placement(preferences=(PlacementPreference(),)),
        )
        validate_service_spec(valid_spec(task_template=bare))


def test_replace_copies_every_field_and_changes_only_those_named() -> None:
    import dataclasses

    from core.model import replace
    from core.model.common import Version

    task = Task(
        id="t1",
        version=Version(index=7),
        service_id="s1",
        slot=3,
        node_id="n1",
        desired_state=TaskState.RUNNING,
    )
    copied = replace(task, desired_state=TaskState.SHUTDOWN, version=Version(index=9))
    assert copied == dataclasses.replace(
        task, desired_state=TaskState.SHUTDOWN, version=Version(index=9)
    )
    assert (copied.id, copied.slot, copied.node_id) == ("t1", 3, "n1")  # inherited and own
    assert task.desired_state is TaskState.RUNNING and task.version == Version(index=7)
    assert replace(task) == task and replace(task) is not task
    with pytest.raises(TypeError, match="Task has no field 'nope'"):
        replace(task, nope=1)
