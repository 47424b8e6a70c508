"""Integers a compose file gives to Go's fixed-size fields, checked as the docker
CLI's decoding (``mapstructure`` into ``types.ServiceConfig``) checks them, so a
value no field can hold is refused at load, in Docker's words, before anything
is sent (Python's integers have no limit; the wire's do).

A negative number in an unsigned field is Docker's own refusal (``cannot parse
'Deploy.Replicas', -1 overflows uint``, every such error of a service listed
under ``decoding failed due to the following error(s):``). A number too big for
the field is one Go silently wraps or panics on; shoal refuses it in the same
form. Names are Docker's field paths (``mapstructure`` tags, else Go names)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cli.compose import ComposeError

UINT32 = (0, 2**32 - 1, "uint32")
UINT64 = (0, 2**64 - 1, "uint64")
INT64 = (-(2**63), 2**63 - 1, "int64")
Range = tuple[int, int, str]
#: A uint64 in the file that the Engine's ``HealthConfig.Retries`` (a Go int) holds.
RETRIES = (0, 2**63 - 1, "int64")

#: (path in the file, Docker's name for it, the Go type), in ``ServiceConfig``'s field
#: order (the order Docker reports them in); ``[]`` is every list item.
FIELDS: tuple[tuple[tuple[str, ...], str, Range], ...] = (
    (("configs", "[]", "mode"), "Configs[{}].Mode", UINT32),
    (("deploy", "replicas"), "Deploy.Replicas", UINT64),
    (("deploy", "update_config", "parallelism"), "Deploy.update_config.Parallelism", UINT64),
    (("deploy", "rollback_config", "parallelism"), "Deploy.rollback_config.Parallelism", UINT64),
    (("deploy", "resources", "limits", "pids"), "Deploy.Resources.Limits.pids", INT64),
    (("deploy", "restart_policy", "max_attempts"), "Deploy.restart_policy.max_attempts", UINT64),
    (
        ("deploy", "placement", "max_replicas_per_node"),
        "Deploy.Placement.max_replicas_per_node",
        UINT64,
    ),
    (("healthcheck", "retries"), "HealthCheck.Retries", RETRIES),
    (("ports", "[]", "target"), "Ports[{}].Target", UINT32),
    (("ports", "[]", "published"), "Ports[{}].Published", UINT32),
    (("secrets", "[]", "mode"), "Secrets[{}].Mode", UINT32),
    (("oom_score_adj",), "OomScoreAdj", INT64),
    (("volumes", "[]", "tmpfs", "size"), "Volumes[{}].tmpfs.Size", INT64),
)


def check(config: Mapping[str, Any]) -> None:
    """Every service's integers in range, else the first failing service's errors."""
    services = config.get("services")
    if not isinstance(services, dict):
        return
    for service in services.values():
        if isinstance(service, dict):
            errors = [*_field_errors(service), *_ulimit_errors(service.get("ulimits"))]
            if errors:
                raise ComposeError(
                    "decoding failed due to the following error(s):\n\n" + "\n".join(errors)
                )


def _field_errors(service: Mapping[str, Any]) -> Iterator[str]:
    for path, name, (low, high, kind) in FIELDS:
        for index, value in _values(service, path):
            if _integer(value) and not low <= value <= high:
                word = "uint" if value < 0 and low == 0 else kind
                yield f"cannot parse '{name.format(index)}', {value} overflows {word}"


def _ulimit_errors(ulimits: Any) -> Iterator[str]:
    """docker/cli's ``transformUlimits`` takes Go ints only: a number YAML cannot
    make an ``int`` of is ``invalid type float64 for ulimits``."""
    if not isinstance(ulimits, dict):
        return
    low, high, kind = INT64
    for name, value in sorted(ulimits.items()):
        if _integer(value) and not low <= value <= high:
            go_type = "uint64" if 0 <= value < 2**64 else "float64"  # as YAML decodes it
            yield f"error decoding 'Ulimits[{name}]': invalid type {go_type} for ulimits"
        elif isinstance(value, dict):
            for field in ("soft", "hard"):
                number = value.get(field)
                if isinstance(number, int) and _integer(number) and not low <= number <= high:
                    yield (
                        f"cannot parse 'Ulimits[{name}].{field.capitalize()}', "
                        f"{number} overflows {kind}"
                    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _values(node: Any, path: tuple[str, ...], index: int = 0) -> Iterator[tuple[int, Any]]:
    """The values at ``path`` with the index of the list item they are in."""
    if not path:
        yield index, node
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        for position, item in enumerate(node if isinstance(node, list) else ()):
            yield from _values(item, rest, position)
    elif isinstance(node, dict) and head in node:
        yield from _values(node[head], rest, index)
