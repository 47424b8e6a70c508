"""Every ``service create`` and ``service update`` flag lands in its own field of
the spec, with the value Docker writes for it.

Each row is one flag with a distinctive value; the spec built with it is compared
with the spec built without it: what changed must be the flag's field alone, and
hold what Docker's JSON holds there. Expected values come from the JSON a real
dockerd wrote for the same flags (tests/golden/svc-*.json, see capture.sh); rows
marked ``derived`` follow docker/cli's cli/command/service/opts.go and update.go
where the captures have no such flag. The rows are checked against the parsers'
own flag lists, so a new flag without a row fails here.
"""

from __future__ import annotations

import json
import random
import shlex
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from cli.commands.common import Call, Change, Found
from cli.commands.service import create, create_parser, update, update_parser
from core.model.service import ServiceSpec

GOLDEN = Path(__file__).parent.parent / "golden"


def _spec(name: str) -> dict[str, Any]:
    spec = json.loads((GOLDEN / name).read_text())[0]["Spec"]
    assert isinstance(spec, dict)
    return spec


WEB = _spec("svc-replicated.json")  # create with ~60 flags (commands.md)
GLOBAL = _spec("svc-global.json")  # --mode global --endpoint-mode dnsrr
UPDATED = _spec("svc-replicated-updated.json")  # update --image ... --env-add C=3
MINIMAL = _spec("svc-minimal.json")  # no flags: the defaults the docker CLI fills in

ABSENT = object()  # the field is left out of Docker's JSON (omitempty)
NO_CHANGE = ""  # the flag changes how the CLI behaves, not the spec


def golden(path: str, spec: dict[str, Any] = WEB) -> Any:
    value: Any = spec
    for key in path.split("."):
        value = value[key]
    return value


class Row(NamedTuple):
    argv: str
    path: str  # the field the flag writes, dotted as in Docker's JSON
    expected: Any = None
    base: str = ""  # flags the spec without this one already has
    unordered: bool = False  # Docker writes this list in Go map order


C = "TaskTemplate.ContainerSpec."
R = "TaskTemplate.RestartPolicy."
FILES = _spec("svc-secrets-configs.json")
SECRETS = [{**ref, "SecretID": ref["SecretName"]} for ref in golden(C + "Secrets", FILES)]
CONFIGS = [{**ref, "ConfigID": ref["ConfigName"]} for ref in golden(C + "Configs", FILES)]
H = C + "Healthcheck."
JOB = "--mode replicated-job --replicas 2"


def _from_web(argv: str, path: str) -> Row:
    return Row(argv, path, golden(path))


COMMON: dict[str, Row] = {
    "--detach": Row("--detach", NO_CHANGE),
    "--quiet": Row("--quiet", NO_CHANGE),
    "--replicas": _from_web("--replicas 3", "Mode.Replicated.Replicas"),
    "--replicas-max-per-node": _from_web(
        "--replicas-max-per-node 6", "TaskTemplate.Placement.MaxReplicas"
    ),
    "--max-concurrent": Row("--max-concurrent 2", "Mode.ReplicatedJob.MaxConcurrent", 2, JOB),
    "--workdir": _from_web("--workdir /tmp", C + "Dir"),
    "--user": _from_web("--user 0:0", C + "User"),
    "--hostname": _from_web("--hostname web-host", C + "Hostname"),
    "--endpoint-mode": Row(
        "--endpoint-mode dnsrr", "EndpointSpec.Mode", golden("EndpointSpec.Mode", GLOBAL)
    ),
    "--stop-grace-period": _from_web("--stop-grace-period 20s", C + "StopGracePeriod"),
    "--stop-signal": _from_web("--stop-signal SIGINT", C + "StopSignal"),
    "--restart-condition": _from_web("--restart-condition on-failure", R + "Condition"),
    "--restart-delay": _from_web("--restart-delay 3s", R + "Delay"),
    "--restart-max-attempts": _from_web("--restart-max-attempts 4", R + "MaxAttempts"),
    "--restart-window": _from_web("--restart-window 1m", R + "Window"),
    "--reserve-cpu": _from_web("--reserve-cpu 0.1", "TaskTemplate.Resources.Reservations.NanoCPUs"),
    "--reserve-memory": _from_web(
        "--reserve-memory 8M", "TaskTemplate.Resources.Reservations.MemoryBytes"
    ),
    "--limit-cpu": _from_web("--limit-cpu 0.5", "TaskTemplate.Resources.Limits.NanoCPUs"),
    "--limit-memory": _from_web("--limit-memory 64M", "TaskTemplate.Resources.Limits.MemoryBytes"),
    "--health-cmd": _from_web("--health-cmd true", H + "Test"),
    "--health-interval": _from_web("--health-interval 5s", H + "Interval"),
    "--health-timeout": _from_web("--health-timeout 2s", H + "Timeout"),
    "--health-retries": _from_web("--health-retries 3", H + "Retries"),
    "--health-start-period": _from_web("--health-start-period 1s", H + "StartPeriod"),
    "--no-healthcheck": Row("--no-healthcheck", C + "Healthcheck", {"Test": ["NONE"]}),  # derived
    "--update-parallelism": _from_web("--update-parallelism 2", "UpdateConfig.Parallelism"),
    "--update-delay": _from_web("--update-delay 10s", "UpdateConfig.Delay"),
    "--update-failure-action": _from_web(
        "--update-failure-action rollback", "UpdateConfig.FailureAction"
    ),
    "--update-monitor": _from_web("--update-monitor 7s", "UpdateConfig.Monitor"),
    "--update-max-failure-ratio": _from_web(
        "--update-max-failure-ratio 0.25", "UpdateConfig.MaxFailureRatio"
    ),
    "--update-order": _from_web("--update-order start-first", "UpdateConfig.Order"),
    # shoal's own (Docker has no update deadline): SwarmKit's field name
    "--update-progress-deadline": Row(
        "--update-progress-deadline 90s", "UpdateConfig.ProgressDeadline", 90_000_000_000
    ),
    "--rollback-parallelism": _from_web("--rollback-parallelism 1", "RollbackConfig.Parallelism"),
    "--rollback-delay": _from_web("--rollback-delay 2s", "RollbackConfig.Delay"),
    "--rollback-failure-action": _from_web(
        "--rollback-failure-action continue", "RollbackConfig.FailureAction"
    ),
    "--rollback-monitor": _from_web("--rollback-monitor 4s", "RollbackConfig.Monitor"),
    "--rollback-max-failure-ratio": _from_web(
        "--rollback-max-failure-ratio 0.5", "RollbackConfig.MaxFailureRatio"
    ),
    "--rollback-order": _from_web("--rollback-order stop-first", "RollbackConfig.Order"),
}

ENV_FILE = "A=1\n# a comment\n\nB=two\n"

CREATE: dict[str, Row] = {
    **COMMON,
    "--name": _from_web("--name web", "Name"),
    "--mode": Row("--mode global", "Mode", golden("Mode", GLOBAL)),
    "--env": _from_web("--env A=1 --env B=two", C + "Env"),
    "--env-file": Row("--env-file env.list", C + "Env", golden(C + "Env")),  # derived
    "--label": _from_web("--label com.example.app=web --label tier=front", "Labels"),
    "--container-label": _from_web("--container-label com.example.c=1", C + "Labels"),
    "--constraint": _from_web(
        "--constraint node.role==manager --constraint node.labels.rack!=r9",
        "TaskTemplate.Placement.Constraints",
    ),
    "--placement-pref": _from_web(
        "--placement-pref spread=node.labels.rack", "TaskTemplate.Placement.Preferences"
    ),
    "--publish": _from_web("--publish published=8080,target=80", "EndpointSpec.Ports"),
    # svc-secrets-configs.json, as the CLI sends it: the manager writes the network's ID
    "--network": Row(
        "--network name=appnet,alias=api",
        "TaskTemplate.Networks",
        [{"Target": "appnet", "Aliases": ["api"]}],
    ),
    # svc-secrets-configs.json, each found by the ID it is named by
    "--secret": Row("--secret source=s1,target=app_pw,mode=0400", C + "Secrets", SECRETS),
    "--config": Row("--config source=c1,target=/etc/app.conf", C + "Configs", CONFIGS),
}

#: The service every update row starts from.
SERVICE = (
    "--name web --env A=1 --env B=two --label com.example.app=web --label tier=front "
    "--container-label com.example.c=1 --constraint node.role==manager "
    "--placement-pref spread=node.labels.rack --publish published=8080,target=80"
)
PORT_8080 = golden("EndpointSpec.Ports")[0]
PORT_9090 = {**PORT_8080, "TargetPort": 90, "PublishedPort": 9090}
P = "TaskTemplate.Placement."

UPDATE: dict[str, Row] = {
    **COMMON,
    "--image": Row("--image local/busybox:2", C + "Image", golden(C + "Image", UPDATED)),
    "--env-add": Row("--env-add C=3", C + "Env", golden(C + "Env", UPDATED), unordered=True),
    "--force": Row("--force", NO_CHANGE),  # the manager bumps ForceUpdate (derived)
    "--rollback": Row("--rollback", NO_CHANGE),
    # derived from docker/cli's update.go
    "--args": Row("--args 'sleep 5'", C + "Args", ["sleep", "5"]),
    "--env-rm": Row("--env-rm A", C + "Env", ["B=two"]),
    "--label-add": Row("--label-add x=1", "Labels", {**golden("Labels"), "x": "1"}),
    "--label-rm": Row("--label-rm tier", "Labels", {"com.example.app": "web"}),
    "--container-label-add": Row(
        "--container-label-add d=2", C + "Labels", {"com.example.c": "1", "d": "2"}
    ),
    "--container-label-rm": Row("--container-label-rm com.example.c", C + "Labels", ABSENT),
    "--constraint-add": Row(  # Docker sorts them
        "--constraint-add node.labels.ssd==true",
        P + "Constraints",
        ["node.labels.ssd==true", "node.role==manager"],
    ),
    "--constraint-rm": Row("--constraint-rm node.role==manager", P + "Constraints", ABSENT),
    "--placement-pref-add": Row(
        "--placement-pref-add spread=node.labels.zone",
        P + "Preferences",
        [*golden(P + "Preferences"), {"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
    ),
    "--placement-pref-rm": Row(
        "--placement-pref-rm spread=node.labels.rack", P + "Preferences", ABSENT
    ),
    "--publish-add": Row(
        "--publish-add published=9090,target=90", "EndpointSpec.Ports", [PORT_8080, PORT_9090]
    ),
    "--publish-rm": Row("--publish-rm 80", "EndpointSpec.Ports", ABSENT),
    "--network-add": Row("--network-add other", "TaskTemplate.Networks", [{"Target": "other"}]),
    "--network-rm": Row(
        "--network-rm appnet", "TaskTemplate.Networks", ABSENT, base="--network appnet"
    ),
    "--secret-add": Row("--secret-add source=s1,target=app_pw,mode=0400", C + "Secrets", SECRETS),
    "--secret-rm": Row("--secret-rm s1", C + "Secrets", ABSENT, base="--secret s1"),
    "--config-add": Row("--config-add source=c1,target=/etc/app.conf", C + "Configs", CONFIGS),
    "--config-rm": Row("--config-rm c1", C + "Configs", ABSENT, base="--config c1"),
}


def _flags(parser: Any) -> set[str]:
    return {a.option_strings[-1] for a in parser._actions if a.option_strings}


def test_every_flag_has_a_row() -> None:
    assert _flags(create_parser()) == set(CREATE)
    assert _flags(update_parser()) == set(UPDATE)


def _created(argv: str) -> dict[str, Any]:
    words = [*shlex.split(argv), "local/busybox:1", "sleep", "100000"]
    call = create(words, random.Random(0), lambda path: ENV_FILE)
    assert call.resolved is not None
    spec = call.resolved(_found(call))["spec"]
    assert isinstance(spec, ServiceSpec)
    return spec.to_json()


def _updated(base: str, argv: str) -> dict[str, Any]:
    spec = ServiceSpec.from_json(_created(f"{SERVICE} {base}"))
    change = update([*shlex.split(argv), "web"])
    return change.edit(spec, _found(change)).to_json()


def _found(command: Call | Change) -> Found:
    """Each network, secret and config found by the ID it is named by."""
    return Found(
        {n: n for n in command.networks},
        {n: n for n in command.secrets},
        {n: n for n in command.configs},
    )


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_leaves(inner, f"{path}.{key}" if path else key))
        return out
    return {path: value}


def _check(before: dict[str, Any], after: dict[str, Any], row: Row) -> None:
    old, new = _leaves(before), _leaves(after)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, ABSENT) != new.get(k, ABSENT))
    if row.path == NO_CHANGE:
        assert changed == []
        return
    assert changed, "the flag changed nothing"
    defaults = _leaves(MINIMAL)  # a group a flag creates holds Docker's defaults
    strays = [
        k
        for k in changed
        if k != row.path
        and not k.startswith(row.path + ".")
        and new.get(k, ABSENT) != defaults.get(k, ABSENT)
    ]
    assert strays == [], f"{row.argv} also wrote {strays}"
    value: Any = after
    for key in row.path.split("."):
        value = value.get(key, ABSENT) if isinstance(value, dict) else ABSENT
    if row.unordered:
        assert sorted(value) == sorted(row.expected)
    else:
        assert value == row.expected


@pytest.mark.parametrize("flag", sorted(CREATE))
def test_service_create_flag_writes_its_own_field(flag: str) -> None:
    row = CREATE[flag]
    base = row.base or ("" if flag == "--name" else "--name web")
    _check(_created(base), _created(f"{base} {row.argv}"), row)


@pytest.mark.parametrize("flag", sorted(UPDATE))
def test_service_update_flag_writes_its_own_field(flag: str) -> None:
    row = UPDATE[flag]
    _check(_updated(row.base, ""), _updated(row.base, row.argv), row)
