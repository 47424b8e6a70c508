"""``${VAR}`` in a compose file's values, as the docker CLI substitutes them:
``$VAR`` and ``${VAR}`` (unset: empty), ``${VAR:-default}`` (unset or empty),
``${VAR-default}`` (unset), ``${VAR:?error}`` and ``${VAR?error}`` (refused
with the error), ``$$`` a literal ``$``. Only string values are substituted,
never keys; values at the paths Docker types (``deploy.replicas``, ``ports.*.
published``, ``read_only``...) that a substitution changed are then read as the
numbers and booleans they name, so ``replicas: ${REPLICAS}`` works while
``replicas: "3"`` stays a string the schema refuses, as in Docker. The forms are
tried in template.go's order (``:-``, ``-``, ``:?``, ``?``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from cli.compose import ComposeError

_SUBST = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_PATTERN = re.compile(
    rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBST})|{{(?P<braced>{_SUBST})}}|(?P<invalid>))"
)


class _Invalid(Exception):
    def __init__(self, template: str) -> None:
        self.template = template


#: docker/cli's ``DefaultSubstituteFuncs`` in order (separator, a default rather
#: than an error, an empty value counting as none): ``${URL:-http://x/?q=1}`` is a
#: default, for ``:-`` is looked for before ``?``.
_FORMS = ((":-", True, True), ("-", True, False), (":?", False, True), ("?", False, False))


def substitute(text: str, env: Mapping[str, str]) -> str:
    """``text`` with its variables replaced; :class:`_Invalid` for a bad template
    or a required variable without a value."""

    def one(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        body = match.group("named") or match.group("braced")
        if not body:
            raise _Invalid(text)
        for sep, default, empty_counts in _FORMS:  # template.go's order: the first found
            if sep in body:
                name, _, rest = body.partition(sep)
                value = env.get(name)
                if value is not None and not (empty_counts and value == ""):
                    return value
                if default:
                    return rest
                raise _Invalid(f"required variable {name} is missing a value: {rest}")
        return env.get(body, "")

    return _PATTERN.sub(one, text)


def _to_int(text: str) -> int:
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("y", "yes", "true", "on"):
        return True
    if lowered in ("n", "no", "false", "off"):
        return False
    raise ValueError(f"invalid boolean: {text}")


_S = ("services", "*")
#: Docker's typed paths: ``*`` any key, ``[]`` any list item.
CASTS: dict[tuple[str, ...], Callable[[str], Any]] = {
    (*_S, "configs", "[]", "mode"): _to_int,
    (*_S, "secrets", "[]", "mode"): _to_int,
    (*_S, "healthcheck", "retries"): _to_int,
    (*_S, "healthcheck", "disable"): _to_bool,
    (*_S, "deploy", "replicas"): _to_int,
    (*_S, "deploy", "update_config", "parallelism"): _to_int,
    (*_S, "deploy", "update_config", "max_failure_ratio"): _to_float,
    (*_S, "deploy", "rollback_config", "parallelism"): _to_int,
    (*_S, "deploy", "rollback_config", "max_failure_ratio"): _to_float,
    (*_S, "deploy", "restart_policy", "max_attempts"): _to_int,
    (*_S, "deploy", "placement", "max_replicas_per_node"): _to_int,
    (*_S, "ports", "[]", "target"): _to_int,
    (*_S, "ports", "[]", "published"): _to_int,
    (*_S, "ulimits", "*"): _to_int,
    (*_S, "ulimits", "*", "hard"): _to_int,
    (*_S, "ulimits", "*", "soft"): _to_int,
    (*_S, "privileged"): _to_bool,
    (*_S, "oom_score_adj"): _to_int,
    (*_S, "read_only"): _to_bool,
    (*_S, "stdin_open"): _to_bool,
    (*_S, "tty"): _to_bool,
    (*_S, "volumes", "[]", "read_only"): _to_bool,
    (*_S, "volumes", "[]", "volume", "nocopy"): _to_bool,
    ("networks", "*", "external"): _to_bool,
    ("networks", "*", "internal"): _to_bool,
    ("networks", "*", "attachable"): _to_bool,
    ("volumes", "*", "external"): _to_bool,
    ("secrets", "*", "external"): _to_bool,
    ("configs", "*", "external"): _to_bool,
}


def _cast_for(path: tuple[str, ...]) -> Callable[[str], Any] | None:
    """interpolation.go's ``Path.matches``: ``*`` matches any part, ``[]`` too."""
    for pattern, cast in CASTS.items():
        if len(pattern) == len(path) and all(
            p in ("*", q) for p, q in zip(pattern, path, strict=True)
        ):
            return cast
    return None


def interpolate(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The file's top level with every string value substituted (``services``,
    ``networks``, ``volumes``, ``secrets``, ``configs``, as Docker does)."""
    result = dict(config)
    for section in ("services", "networks", "volumes", "secrets", "configs"):
        value = config.get(section)
        if isinstance(value, dict):
            result[section] = _walk(value, (section,), env)
    return result


def _shown(path: tuple[str, ...]) -> str:
    """A path as Docker prints it: ``services.a.environment.[]`` for a list item."""
    return ".".join(path)


def _walk(value: Any, path: tuple[str, ...], env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, str(k)), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, "[]"), env) for v in value]
    if not isinstance(value, str):
        return value
    try:
        text = substitute(value, env)
    except _Invalid as error:
        raise ComposeError(
            f"invalid interpolation format for {_shown(path)}: {_go_quote(error.template)}; "
            "you may need to escape any $ with another $"
        ) from None
    cast = _cast_for(path)
    if cast is None or text == value:  # Docker casts only what a substitution changed
        return text
    try:
        return cast(text)
    except ValueError as error:
        raise ComposeError(
            f"error while interpolating {_shown(path)}: failed to cast to expected type: {error}"
        ) from None


def _go_quote(text: str) -> str:
    """Go's ``%#v`` of a string: double-quoted with Go's escapes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'.replace("\t", "\\t")
