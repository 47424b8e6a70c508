"""shoal's model against JSON captured from a real Docker swarm (tests/golden/).

Every fixture is parsed into the model and written back, then compared key by key
with what Docker printed: same keys, same values, same JSON types. Semantic checks
show the parse is right (not only reversible), and that shoal's defaults are the
ones real Docker fills in. Regenerate the fixtures with tests/golden/capture.sh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.model import Cluster, Config, Node, Secret, Service, Task
from core.model.defaults import RESTART_POLICY, STOP_GRACE_PERIOD_NS, UPDATE_CONFIG
from core.model.duration import MINUTE, SECOND
from core.model.enums import (
    FailureAction,
    NodeAvailability,
    NodeRole,
    PublishMode,
    ResolutionMode,
    RestartCondition,
    UpdateOrder,
    UpdateState,
)
from core.model.wire import WireModel
from core.tasks.states import TaskState

GOLDEN = Path(__file__).parent

MODELS: dict[str, type[WireModel]] = {
    "swarm.json": Cluster,
    "swarm-updated.json": Cluster,
    "swarm-init-flags.json": Cluster,
    "node-manager.json": Node,
    "node-paused.json": Node,
    "secret.json": Secret,
    "config.json": Config,
    "svc-replicated.json": Service,
    "svc-replicated-updated.json": Service,
    "svc-global.json": Service,
    "svc-replicated-job.json": Service,
    "svc-global-job.json": Service,
    "svc-minimal.json": Service,
    "svc-secrets-configs.json": Service,
    "services-status-api.json": Service,
    "task-running.json": Task,
    "task-shutdown.json": Task,
    "task-job-complete.json": Task,
    "task-rejected.json": Task,
    "task-failed.json": Task,
    "task-pending.json": Task,
    "task-secrets-configs.json": Task,
}

#: Fixtures that are not swarm objects, and why they are not modelled.
NOT_MODELLED = {
    "info-swarm.json": "`docker info`'s Swarm section: a daemon status view, not a stored object",
    "network-ingress.json": "the engine's local network view (NetworkResource); swarm networks "
    "are checked through tasks' NetworksAttachments",
    "network-appnet.json": "the engine's local network view (NetworkResource), as above",
}


def load(name: str) -> list[dict[str, Any]]:
    data = json.loads((GOLDEN / name).read_text())
    return data if isinstance(data, list) else [data]


def parsed(name: str, index: int = 0) -> Any:
    return MODELS[name].from_json(load(name)[index])


def differences(original: Any, written: Any, path: str = "") -> list[str]:
    """Every key path where ``written`` differs from ``original`` (keys, values, types)."""
    if isinstance(original, dict) and isinstance(written, dict):
        found = []
        for key in sorted(set(original) | set(written)):
            where = f"{path}.{key}"
            if key not in written:
                found.append(f"{where}: dropped")
            elif key not in original:
                found.append(f"{where}: added {written[key]!r}")
            else:
                found += differences(original[key], written[key], where)
        return found
    if isinstance(original, list) and isinstance(written, list):
        if len(original) != len(written):
            return [f"{path}: {len(original)} items became {len(written)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(original, written, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    if type(original) is not type(written) or original != written:
        return [f"{path}: {original!r} became {written!r}"]
    return []


def test_every_fixture_is_either_modelled_or_excluded_with_a_reason() -> None:
    on_disk = {p.name for p in GOLDEN.glob("*.json")}
    assert on_disk == set(MODELS) | set(NOT_MODELLED)


def test_fixtures_come_with_the_commands_that_made_them() -> None:
    commands = (GOLDEN / "commands.md").read_text()
    for name in MODELS:
        assert f"### {name}" in commands, name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_docker_json_reads_and_writes_back_key_by_key(name: str) -> None:
    for document in load(name):
        written = MODELS[name].from_json(document).to_json()
        assert differences(document, written) == []


def test_the_differences_helper_sees_dropped_added_and_retyped_values() -> None:
    assert differences({"a": 1, "b": 0}, {"a": 1.0, "c": 2}) == [
        ".a: 1 became 1.0",
        ".b: dropped",
        ".c: added 2",
    ]


def test_minimal_service_shows_swarm_defaults_that_shoal_uses() -> None:
    spec = parsed("svc-minimal.json").spec
    assert spec.update_config == UPDATE_CONFIG
    assert spec.rollback_config == UPDATE_CONFIG
    assert spec.task_template.restart_policy == RESTART_POLICY
    assert spec.task_template.container_spec.stop_grace_period_ns == STOP_GRACE_PERIOD_NS
    assert spec.endpoint_spec.mode is ResolutionMode.VIP
    assert spec.mode.replicated.replicas == 1


def test_default_swarm_shows_the_cluster_defaults_shoal_uses() -> None:
    cluster = parsed("swarm.json")
    assert cluster.spec == Cluster().spec
    assert cluster.join_tokens.worker.startswith("SWMTKN-1-")
    segments = cluster.join_tokens.worker.split("-")
    assert [len(s) for s in segments[2:]] == [50, 25]


def test_replicated_service_fields_parse_to_their_meaning() -> None:
    service = parsed("svc-replicated.json")
    spec = service.spec
    template = spec.task_template
    container = template.container_spec
    assert spec.name == "web" and spec.mode.replicated.replicas == 3
    assert spec.labels == {"com.example.app": "web", "tier": "front"}
    assert container.args == ("sleep", "100000") and container.command == ()
    assert container.env == ("A=1", "B=two") and container.init is True
    assert container.stop_grace_period_ns == 20 * SECOND
    assert (
        container.healthcheck.test == ("CMD-SHELL", "true") and container.healthcheck.retries == 3
    )
    assert template.placement.constraints == ("node.role==manager", "node.labels.rack!=r9")
    assert template.placement.preferences[0].spread.spread_descriptor == "node.labels.rack"
    assert template.placement.max_replicas == 6
    assert template.resources.reservations.nano_cpus == 100_000_000
    assert template.resources.limits.memory_bytes == 64 * 1024 * 1024
    policy = template.restart_policy
    assert (policy.condition, policy.delay_ns, policy.max_attempts, policy.window_ns) == (
        RestartCondition.ON_FAILURE,
        3 * SECOND,
        4,
        MINUTE,
    )
    update = spec.update_config
    assert (
        update.parallelism,
        update.delay_ns,
        update.failure_action,
        update.monitor_ns,
        update.max_failure_ratio,
        update.order,
    ) == (2, 10 * SECOND, FailureAction.ROLLBACK, 7 * SECOND, 0.25, UpdateOrder.START_FIRST)
    assert spec.rollback_config.failure_action is FailureAction.CONTINUE
    assert spec.endpoint_spec.ports[0].published_port == 8080
    assert spec.endpoint_spec.ports[0].publish_mode is PublishMode.INGRESS
    assert len(service.id) == 25 and service.version.index > 0


def test_updated_service_keeps_one_previous_spec_and_its_update_status() -> None:
    service = parsed("svc-replicated-updated.json")
    assert service.previous_spec.task_template.container_spec.image == "local/busybox:1"
    assert service.spec.task_template.container_spec.image == "local/busybox:2"
    assert service.update_status.state is UpdateState.COMPLETED
    assert service.update_status.started_at < service.update_status.completed_at


def test_task_fixtures_parse_states_slots_and_errors() -> None:
    running = parsed("task-running.json")
    assert running.status.state is TaskState.RUNNING and running.desired_state is TaskState.RUNNING
    assert running.slot >= 1 and len(running.node_id) == 25
    assert running.status.container_status.pid > 0
    rejected = parsed("task-rejected.json")
    assert rejected.status.state is TaskState.REJECTED and "No such image" in rejected.status.err
    failed = parsed("task-failed.json")
    assert (
        failed.status.state is TaskState.FAILED and failed.status.err == "task: non-zero exit (1)"
    )
    assert failed.desired_state is TaskState.SHUTDOWN
    pending = parsed("task-pending.json")
    assert pending.status.state is TaskState.PENDING and pending.node_id == ""
    assert parsed("task-job-complete.json").status.state is TaskState.COMPLETE


def test_node_fixture_parses_role_labels_and_manager_status() -> None:
    node = parsed("node-manager.json")
    assert node.spec.role is NodeRole.MANAGER and node.spec.availability is NodeAvailability.ACTIVE
    assert node.spec.labels == {"rack": "r1", "ssd": ""}
    assert node.manager_status.leader is True
    assert parsed("node-paused.json").spec.availability is NodeAvailability.PAUSE
