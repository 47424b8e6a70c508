"""Every integer of a spec is checked against the range of the Go type Docker has
for it, before the leader writes it (issue 15 item 14d: ``--limit-memory
17179869184G`` passed validation and crashed the leader's write with msgpack's
OverflowError). And a service asks for at most SERVICE_TASKS_MAX tasks (14j)."""

from __future__ import annotations

import dataclasses
import random
import types
import typing
from collections.abc import Iterator

import pytest

from core.errors import InvalidSpec
from core.manager.api import ApiContext, handle
from core.model.cluster import Cluster, ClusterSpec
from core.model.common import Limit, ResourceRequirements
from core.model.service import (
    ContainerSpec,
    EndpointSpec,
    PlacementPreference,
    PortConfig,
    ReplicatedJob,
    ReplicatedService,
    Service,
    ServiceMode,
    ServiceSpec,
    SpreadOver,
    TaskSpec,
)
from core.model.validate import (
    SERVICE_TASKS_MAX,
    validate_cluster_spec,
    validate_service_spec,
)
from core.model.wire import WireModel, replace
from core.store import ActionKind, MemoryStore, StoreAction, Transaction

Route = tuple[str | int, ...]  # field names and tuple indexes down to one integer


def _model_in(hint: object) -> tuple[type[WireModel], bool] | None:
    """The model class a field holds (``X``, ``X | None`` or ``tuple[X, ...]``), and
    whether it is a tuple of them."""
    if isinstance(hint, type) and issubclass(hint, WireModel):
        return hint, False
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        inner = _model_in(args[0]) if args else None
        return (inner[0], True) if inner is not None else None
    if isinstance(hint, types.UnionType):
        for arg in args:
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def filled(cls: type[WireModel]) -> WireModel:
    """An instance with every nested model present (one element in each tuple of
    them), so that every integer field of the class exists."""
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        found = _model_in(hints[field.name])
        if found is not None:
            one = filled(found[0])
            values[field.name] = (one,) if found[1] else one
    return cls(**values)


def full_spec(mode: ServiceMode) -> ServiceSpec:
    """A valid spec with every optional part of a service spec set."""
    spec = typing.cast(ServiceSpec, filled(ServiceSpec))
    template = spec.task_template
    assert template.container_spec is not None and template.placement is not None
    spread = PlacementPreference(spread=SpreadOver(spread_descriptor="node.labels.rack"))
    template = replace(
        template,
        container_spec=replace(template.container_spec, image="nginx"),
        placement=replace(template.placement, preferences=(spread,)),
    )
    ports = (PortConfig(target_port=80),)
    changes: dict[str, object] = {}
    if mode.is_job:
        changes["update_config"] = None
    return replace(
        spec,
        name="web",
        task_template=template,
        mode=mode,
        endpoint_spec=EndpointSpec(ports=ports),
        **changes,
    )


def integers(value: object, route: Route = (), path: str = "") -> Iterator[tuple[Route, str]]:
    if isinstance(value, WireModel):
        for field in dataclasses.fields(value):  # type: ignore[arg-type]
            key = field.metadata["wire"].key
            inner = getattr(value, field.name)
            yield from integers(inner, (*route, field.name), f"{path}.{key}" if path else key)
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from integers(item, (*route, index), f"{path}[{index}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        yield route, path


def with_value(obj: object, route: Route, value: int) -> object:
    if not route:
        return value
    head, rest = route[0], route[1:]
    if isinstance(head, int):
        assert isinstance(obj, tuple)
        return (*obj[:head], with_value(obj[head], rest, value), *obj[head + 1 :])
    return replace(obj, **{head: with_value(getattr(obj, head), rest, value)})  # type: ignore[type-var]


REPLICATED = full_spec(ServiceMode(replicated=ReplicatedService(replicas=3)))
JOB = full_spec(ServiceMode(replicated_job=ReplicatedJob(max_concurrent=1, total_completions=2)))
ROUTES = [(spec, route, path) for spec in (REPLICATED, JOB) for route, path in integers(spec)]


def test_the_full_specs_are_valid_and_hold_the_fields_of_the_report() -> None:
    validate_service_spec(REPLICATED)
    validate_service_spec(JOB)
    paths = {path for _, _, path in ROUTES}
    for path in (
        "TaskTemplate.Resources.Limits.MemoryBytes",
        "TaskTemplate.Resources.Reservations.NanoCPUs",
        "TaskTemplate.ContainerSpec.Ulimits[0].Hard",
        "TaskTemplate.ContainerSpec.Healthcheck.Interval",
        "TaskTemplate.RestartPolicy.Delay",
        "UpdateConfig.Parallelism",
        "Mode.Replicated.Replicas",
        "Mode.ReplicatedJob.TotalCompletions",
        "EndpointSpec.Ports[0].PublishedPort",
    ):
        assert path in paths
    assert len(paths) >= 30


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1])
@pytest.mark.parametrize(("spec", "route", "path"), ROUTES, ids=[p for _, _, p in ROUTES])
def test_an_integer_out_of_its_range_is_a_clear_error_never_an_overflow(
    spec: ServiceSpec, route: Route, path: str, value: int
) -> None:
    changed = typing.cast(ServiceSpec, with_value(spec, route, value))
    try:
        validate_service_spec(changed)
    except InvalidSpec as error:
        assert path.endswith(error.field), (path, str(error))
        return
    # accepted (a uint64 field takes 2**63): the leader's write must carry it
    assert value == 2**63, path
    create = StoreAction(ActionKind.CREATE, Service(id="s1", spec=changed))
    assert Transaction(actions=(create,), wall_ns=0).encode()


def test_the_reported_memory_limit_is_refused_through_the_api() -> None:
    limit = 17179869184 * 2**30  # --limit-memory 17179869184G
    template = TaskSpec(
        container_spec=ContainerSpec(image="nginx"),
        resources=ResourceRequirements(limits=Limit(memory_bytes=limit)),
    )
    spec = ServiceSpec(name="web", task_template=template)
    ctx = ApiContext(store=MemoryStore(), rng=random.Random(1), wall=0.0)
    with pytest.raises(InvalidSpec) as caught:
        handle(ctx, "ServiceCreate", {"spec": spec})
    assert str(caught.value) == (
        f"invalid TaskTemplate.Resources.Limits.MemoryBytes {limit}: "
        f"must be in [{-(2**63)}, {2**63 - 1}] (a Go int64)"
    )


def test_swarm_update_checks_the_cluster_specs_integers() -> None:
    spec = ClusterSpec()
    huge = replace(spec, dispatcher=replace(spec.dispatcher, heartbeat_period_ns=2**63))
    with pytest.raises(InvalidSpec, match=r"^invalid Dispatcher\.HeartbeatPeriod "):
        validate_cluster_spec(huge)
    store = MemoryStore()
    store.tables["clusters"]["c1"] = Cluster(id="c1")
    ctx = ApiContext(store=store, rng=random.Random(1), wall=0.0)
    with pytest.raises(InvalidSpec, match=r"^invalid Dispatcher\.HeartbeatPeriod "):
        handle(ctx, "SwarmUpdate", {"dispatcher_heartbeat_ns": 2**63})
    with pytest.raises(InvalidSpec, match=r"^invalid Orchestration\.TaskHistoryRetentionLimit "):
        handle(ctx, "SwarmUpdate", {"task_history_limit": 2**64})


@pytest.mark.parametrize("method", ["ServiceCreate", "ServiceScale"])
def test_a_service_asks_for_at_most_the_task_bound(method: str) -> None:
    spec = ServiceSpec(
        name="web",
        task_template=TaskSpec(container_spec=ContainerSpec(image="nginx")),
        mode=ServiceMode(replicated=ReplicatedService(replicas=SERVICE_TASKS_MAX)),
    )
    store = MemoryStore()
    ctx = ApiContext(store=store, rng=random.Random(1), wall=0.0)
    handle(ctx, "ServiceCreate", {"spec": spec})  # the bound itself is fine
    too_many = ServiceMode(replicated=ReplicatedService(replicas=SERVICE_TASKS_MAX + 1))
    params: dict[str, object] = {"spec": replace(spec, mode=too_many)}
    if method == "ServiceScale":  # scale web=1000000
        store.tables["services"]["s1"] = Service(id="s1", spec=spec)
        params = {"service": "s1", "replicas": 1_000_000}
    with pytest.raises(InvalidSpec) as caught:
        handle(ctx, method, params)
    assert caught.value.field == "Mode.Replicated.Replicas"
    assert str(caught.value).endswith(
        "shoal simulates every task: at most 100,000 tasks per service"
    )


def test_a_forced_update_may_not_push_force_update_past_its_range() -> None:
    """``--force`` raises TaskTemplate.ForceUpdate by one: at the top of a uint64
    that is a value the store cannot encode, refused before it is written."""
    top = TaskSpec(container_spec=ContainerSpec(image="nginx"), force_update=2**64 - 1)
    spec = ServiceSpec(name="web", task_template=top)
    store = MemoryStore()
    store.tables["services"]["s1"] = Service(id="s1", spec=spec)
    ctx = ApiContext(store=store, rng=random.Random(1), wall=0.0)
    with pytest.raises(InvalidSpec) as caught:
        handle(ctx, "ServiceUpdate", {"service": "s1", "spec": spec, "force": True})
    assert caught.value.field == "TaskTemplate.ForceUpdate"
