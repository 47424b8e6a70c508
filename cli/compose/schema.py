"""The Compose file format 3.x as a JSON Schema (written for shoal from the
format's reference: every key a 3.x file may hold, with its type), checked with
the ``jsonschema`` library, and its first error told as the docker CLI tells it:
``services.web Additional property foo is not allowed``, ``services.web.
replicas must be a integer``, ``(root) Additional property service is not
allowed``. One schema serves 3.0 to 3.13 (the versions the docker CLI knows;
``3`` and no version at all mean the latest); a key newer than the file's
version is accepted, where Docker would refuse it."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from cli.compose import ComposeError, ports
from core.model.duration import DurationError, parse_duration

VERSIONS = tuple(f"3.{minor}" for minor in range(14))
LATEST = VERSIONS[-1]
_NAME = "^[a-zA-Z0-9._-]+$"
_EXTENSION: dict[str, Any] = {"^x-": {}}


def version_of(config: Mapping[str, Any]) -> str:
    """The file's version as Docker reads it (``%v`` of the value): ``3`` or
    none at all is the latest 3.x."""
    if "version" not in config:
        return LATEST
    value = config["version"]
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return LATEST if text in ("", "3") else text


# -- building blocks -----------------------------------------------------------------


def _obj(properties: dict[str, Any], *, extensions: bool = True, **more: Any) -> dict[str, Any]:
    """A mapping with exactly these keys (and ``x-`` extensions)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if extensions:
        schema["patternProperties"] = _EXTENSION
    schema.update(more)
    return schema


def _named(item: dict[str, Any]) -> dict[str, Any]:
    """A mapping of names to ``item``s (services, networks...)."""
    return {
        "type": "object",
        "patternProperties": {_NAME: item},
        "additionalProperties": False,
    }


STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
DURATION = {"type": "string", "format": "duration"}
STRINGS = {"type": "array", "items": STRING, "uniqueItems": True}
STRING_OR_LIST = {"type": ["string", "array"], "items": STRING}
LIST_OR_DICT = {
    "type": ["object", "array"],
    "patternProperties": {".+": {"type": ["string", "number", "null"]}},  # no booleans
    "additionalProperties": False,
    "items": STRING,
    "uniqueItems": True,
}
EXTERNAL = {
    "type": ["boolean", "object"],
    "properties": {"name": STRING},
    "additionalProperties": False,
}
LABELS = LIST_OR_DICT


def _file_reference() -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "oneOf": [
                STRING,
                _obj(
                    {
                        "source": STRING,
                        "target": STRING,
                        "uid": STRING,
                        "gid": STRING,
                        "mode": NUMBER,
                    }
                ),
            ]
        },
    }


def _update_config() -> dict[str, Any]:
    return _obj(
        {
            "parallelism": INTEGER,
            "delay": DURATION,
            "failure_action": STRING,
            "monitor": DURATION,
            "max_failure_ratio": NUMBER,
            "order": {"type": "string", "enum": ["start-first", "stop-first"]},
        }
    )


def _resources() -> dict[str, Any]:
    cpus = memory = STRING  # docker 28.2's schema: "0.5" and "50M", never bare numbers
    generic = {
        "type": "array",
        "items": _obj(
            {
                "discrete_resource_spec": _obj({"kind": STRING, "value": NUMBER}),
            }
        ),
    }
    return _obj(
        {
            "limits": _obj({"cpus": cpus, "memory": memory, "pids": INTEGER}),
            "reservations": _obj({"cpus": cpus, "memory": memory, "generic_resources": generic}),
        }
    )


def _deploy() -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "properties": {
            "mode": STRING,
            "endpoint_mode": STRING,
            "replicas": INTEGER,
            "labels": LABELS,
            "rollback_config": _update_config(),
            "update_config": _update_config(),
            "resources": _resources(),
            "restart_policy": _obj(
                {
                    "condition": STRING,
                    "delay": DURATION,
                    "max_attempts": INTEGER,
                    "window": DURATION,
                }
            ),
            "placement": _obj(
                {
                    "constraints": {"type": "array", "items": STRING},
                    "preferences": {
                        "type": "array",
                        "items": _obj({"spread": STRING}),
                    },
                    "max_replicas_per_node": INTEGER,
                }
            ),
        },
        "patternProperties": _EXTENSION,
        "additionalProperties": False,
    }


def _service() -> dict[str, Any]:
    port_object = _obj(
        {
            "mode": STRING,
            "host_ip": STRING,
            "target": INTEGER,
            "published": {"type": ["string", "integer"]},
            "protocol": STRING,
        }
    )
    volume_object = _obj(
        {
            "type": STRING,
            "source": STRING,
            "target": STRING,
            "read_only": BOOLEAN,
            "consistency": STRING,
            "bind": _obj({"propagation": STRING}),
            "volume": _obj({"nocopy": BOOLEAN}),
            "tmpfs": _obj({"size": {"type": "integer", "minimum": 0}}),
        }
    )
    network_object = {
        "type": ["object", "null"],
        "properties": {
            "aliases": STRINGS,
            "ipv4_address": STRING,
            "ipv6_address": STRING,
            "driver_opts": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number"]},
            },
        },
        "patternProperties": _EXTENSION,
        "additionalProperties": False,
    }
    properties = {
        "build": {
            "type": ["string", "object"],
            "properties": {
                "context": STRING,
                "dockerfile": STRING,
                "args": LIST_OR_DICT,
                "labels": LIST_OR_DICT,
                "cache_from": STRINGS,
                "network": STRING,
                "target": STRING,
                "shm_size": {"type": ["integer", "string"]},
                "extra_hosts": LIST_OR_DICT,
            },
            "additionalProperties": False,
        },
        "cap_add": STRINGS,
        "cap_drop": STRINGS,
        "cgroup_parent": STRING,
        "cgroupns_mode": STRING,
        "command": STRING_OR_LIST,
        "configs": _file_reference(),
        "container_name": STRING,
        "credential_spec": _obj({"config": STRING, "file": STRING, "registry": STRING}),
        "depends_on": {"type": ["array", "object"], "items": STRING},
        "deploy": _deploy(),
        "devices": STRINGS,
        "dns": STRING_OR_LIST,
        "dns_search": STRING_OR_LIST,
        "domainname": STRING,
        "entrypoint": STRING_OR_LIST,
        "env_file": STRING_OR_LIST,
        "environment": LIST_OR_DICT,
        "expose": {"type": "array", "items": {"type": ["string", "number"]}, "uniqueItems": True},
        "external_links": STRINGS,
        "extra_hosts": LIST_OR_DICT,
        "healthcheck": _obj(
            {
                "disable": BOOLEAN,
                "interval": DURATION,
                "retries": NUMBER,
                "test": STRING_OR_LIST,
                "timeout": DURATION,
                "start_period": DURATION,
                "start_interval": DURATION,
            }
        ),
        "hostname": STRING,
        "image": STRING,
        "init": BOOLEAN,
        "ipc": STRING,
        "isolation": STRING,
        "labels": LABELS,
        "links": STRINGS,
        "logging": _obj({"driver": STRING, "options": {"type": ["object", "null"]}}),
        "mac_address": STRING,
        "network_mode": STRING,
        "networks": {
            "type": ["array", "object"],
            "items": STRING,
            "uniqueItems": True,
            "patternProperties": {_NAME: network_object},
            "additionalProperties": False,
        },
        "oom_score_adj": {"type": "integer", "minimum": -1000, "maximum": 1000},
        "pid": {"type": ["string", "null"]},
        "ports": {
            "type": "array",
            "items": {"type": ["string", "number", "object"], "format": "ports"},
            "uniqueItems": True,
        },
        "privileged": BOOLEAN,
        "read_only": BOOLEAN,
        "restart": STRING,
        "secrets": _file_reference(),
        "security_opt": STRINGS,
        "shm_size": {"type": ["number", "string"]},
        "stdin_open": BOOLEAN,
        "stop_grace_period": DURATION,
        "stop_signal": STRING,
        "sysctls": LIST_OR_DICT,
        "tmpfs": STRING_OR_LIST,
        "tty": BOOLEAN,
        "ulimits": {
            "type": "object",
            "patternProperties": {
                "^[a-z]+$": {
                    "oneOf": [
                        INTEGER,
                        _obj({"hard": INTEGER, "soft": INTEGER}, required=["soft", "hard"]),
                    ]
                }
            },
            "additionalProperties": False,
        },
        "user": STRING,
        "userns_mode": STRING,
        "volumes": {"type": "array", "items": {"type": ["string", "object"]}, "uniqueItems": True},
        "working_dir": STRING,
        # checked by shape again below, for an object port or volume
        "x-ports": port_object,
        "x-volumes": volume_object,
    }
    del properties["x-ports"], properties["x-volumes"]
    service = _obj(properties)
    service["properties"]["ports"]["items"] = {
        "oneOf": [{"type": ["string", "number"], "format": "ports"}, port_object]
    }
    service["properties"]["volumes"]["items"] = {"oneOf": [STRING, volume_object]}
    return service


DRIVER_OPTS = {"type": "object", "additionalProperties": {"type": ["string", "number"]}}


def _declared(properties: dict[str, Any]) -> dict[str, Any]:
    """A top-level network or volume: these keys, or nothing at all (``back:``)."""
    return {
        "type": ["object", "null"],
        "properties": {
            "name": STRING,
            "driver": STRING,
            "driver_opts": DRIVER_OPTS,
            "external": EXTERNAL,
            "labels": LABELS,
            **properties,
        },
        "patternProperties": _EXTENSION,
        "additionalProperties": False,
    }


def _network() -> dict[str, Any]:
    ipam = _obj(
        {
            "driver": STRING,
            "config": {"type": "array", "items": _obj({"subnet": STRING})},
        }
    )
    return _declared({"ipam": ipam, "internal": BOOLEAN, "attachable": BOOLEAN})


def _volume() -> dict[str, Any]:
    return _declared({})


def _file_object(secret: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": STRING,
        "file": STRING,
        "external": EXTERNAL,
        "labels": LABELS,
        "template_driver": STRING,
    }
    if secret:
        properties["driver"] = STRING
        properties["driver_opts"] = DRIVER_OPTS
    return _obj(properties)


@functools.cache
def schema() -> dict[str, Any]:
    """The whole file's schema."""
    return _obj(
        {
            "version": STRING,
            "services": _named(_service()),
            "networks": _named(_network()),
            "volumes": _named(_volume()),
            "secrets": _named(_file_object(secret=True)),
            "configs": _named(_file_object(secret=False)),
        }
    )


# -- formats --------------------------------------------------------------------------------

_FORMATS = jsonschema.FormatChecker(formats=())


def _is_duration(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parse_duration(value)
    except DurationError:
        return False
    return True


def _is_port(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True
    if isinstance(value, float) and not value.is_integer():
        return False
    try:
        ports.short(value)
    except (ComposeError, ValueError, OverflowError):
        return False
    return True


_FORMATS.checks("duration")(_is_duration)
_FORMATS.checks("ports")(_is_port)


# -- errors in Docker's words ------------------------------------------------------------------


def validate(config: Mapping[str, Any], version: str) -> None:
    """Refuse ``config`` with the most specific error, as the docker CLI picks it."""
    if version not in VERSIONS:
        raise ComposeError(f"unsupported Compose file version: {version}")
    validator = jsonschema.Draft7Validator(schema(), format_checker=_FORMATS)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    raise ComposeError(_message(_most_specific(errors)))


def _field(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(root)"


def _specificity(error: jsonschema.ValidationError) -> int:
    return len(_field(error).split("."))


def _most_specific(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    best = errors[0]
    for error in errors[1:]:
        if _specificity(error) > _specificity(best) or (
            _specificity(error) == _specificity(best)
            and error.validator == "type"
            and best.validator != "type"
        ):
            best = error
    return best


def _human(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    words = [{"object": "mapping", "array": "list"}.get(n, n) for n in names]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _message(error: jsonschema.ValidationError) -> str:
    field, kind, instance = _field(error), error.validator, error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        patterns = list(error.schema.get("patternProperties", {}))
        extra = sorted(
            str(k)
            for k in instance
            if k not in known and not any(re.search(p, str(k)) for p in patterns)
        )
        return f"{field} Additional property {extra[0]} is not allowed"
    if kind == "type":
        return f"{field} must be a {_human(error.validator_value)}"
    if kind in ("oneOf", "anyOf"):
        return _alternatives(error)
    if kind == "required":
        missing = [str(k) for k in error.validator_value if k not in instance]
        return f"{field} {missing[0]} is required"
    if kind == "enum":
        allowed = ", ".join(f'"{v}"' for v in error.validator_value)
        return f"{field} must be one of the following: {allowed}"
    if kind == "format":
        return f"{field} Does not match format '{error.validator_value}'"
    if kind == "uniqueItems":
        return f"{field} contains duplicate items"
    if kind in ("minimum", "maximum"):
        word = "greater" if kind == "minimum" else "less"
        return f"{field} Must be {word} than or equal to {error.validator_value}"
    return f"{field} {error.message}"


def _alternatives(error: jsonschema.ValidationError) -> str:
    """``oneOf``/``anyOf`` with no match: the types they take, when the value is
    of none of them; else the nearest alternative's own error."""
    field = _field(error)
    context = list(error.context or ())
    type_errors = [e for e in context if e.validator == "type" and not e.relative_path]
    if len(type_errors) == len([s for s in error.validator_value]):
        types: list[str] = []
        for sub in type_errors:
            value = sub.validator_value
            types += [value] if isinstance(value, str) else list(value)
        return f"{field} must be a {_human(list(dict.fromkeys(types)))}"
    others = [e for e in context if not (e.validator == "type" and not e.relative_path)]
    return _message(_most_specific(others)) if others else f"{field} {error.message}"
