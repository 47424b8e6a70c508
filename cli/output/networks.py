"""What ``docker network ls`` and ``docker network inspect`` print, from the
networks a manager answers with.

A network is shown as dockerd shows a swarm network (its ``NetworkResource``),
through the Engine API layer's own conversion (real/engine/network_json.py), so
that ``shoal`` and a Docker client talking to ``shoal sim serve`` see the same
JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cmp_to_key
from typing import Any

from cli.commands.flags import UsageError
from cli.output.template import Fields
from cli.output.views import SHORT_ID, Header, inspect_json, listing, natural_order
from core.model.network import Network
from real.engine.errors import EngineError
from real.engine.filters import Filters
from real.engine.network_json import (
    NETWORK_FILTERS,
    dangling_of,
    inspected,
    is_predefined,
    network_matches,
    network_resource,
    types_of,
)

NETWORK_HEADER = Header(
    "*network.networkContext",
    "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    {  # in the order docker/cli's formatter.MarshalJSON writes them (by name)
        "CreatedAt": "CREATED AT",
        "Driver": "DRIVER",
        "ID": "NETWORK ID",
        "IPv6": "IPV6",
        "Internal": "INTERNAL",
        "Labels": "LABELS",
        "Name": "NAME",
        "Scope": "SCOPE",
    },
)
__all__ = ["NETWORK_FILTERS", "check_filters", "filtered", "network_inspect", "network_ls"]


def network_inspect(networks: Sequence[Network], fmt: str | None = None) -> str:
    """``docker network inspect``: a JSON array of dockerd's NetworkResource, as a
    swarm node answers it (the ingress network as the node's own copy)."""
    return inspect_json([inspected(n) for n in networks], fmt)


def network_ls(
    networks: Sequence[Network],
    filters: Sequence[tuple[str, str]] = (),
    *,
    fmt: str | None = None,
    quiet: bool = False,
    no_trunc: bool = False,
) -> str:
    """``docker network ls``: dockerd's filters, then by name as docker/cli sorts
    them (fvbommel/sortorder's natural order)."""
    shown = filtered([network_resource(n) for n in networks], filters)
    by_name = cmp_to_key(lambda a, b: natural_order(a["Name"], b["Name"]))  # type: ignore[index]
    ordered = sorted(shown, key=by_name)
    rows = [_row(n, no_trunc) for n in ordered]
    return listing(rows, [str(r["ID"]) for r in rows], NETWORK_HEADER, fmt, quiet)


def _row(shown: Mapping[str, Any], no_trunc: bool) -> Fields:
    labels = shown["Labels"] or {}
    return Fields(
        NETWORK_HEADER.kind,
        {
            "CreatedAt": go_time_string(shown["Created"]),
            "Driver": shown["Driver"],
            "ID": shown["Id"] if no_trunc else shown["Id"][:SHORT_ID],
            "IPv6": "true" if shown["EnableIPv6"] else "false",
            "Internal": "true" if shown["Internal"] else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
            "Name": shown["Name"],
            "Scope": shown["Scope"],
        },
    )


def go_time_string(rfc3339: str) -> str:
    """Go's ``time.Time.String`` of a UTC instant given in RFC 3339 (as the CLI
    decodes ``Created``): ``2026-11-22 05:43:31.647865993 +0000 UTC``."""
    return rfc3339.replace("T", " ").removesuffix("Z") + " +0000 UTC"


# -- --filter ----------------------------------------------------------------------------------


def check_filters(filters: Sequence[tuple[str, str]]) -> None:
    """The values dockerd refuses, in its words, before anything is listed."""
    wanted = Filters(_by_key(filters))
    try:
        dangling_of(wanted)
        types_of(wanted)
    except EngineError as error:
        raise UsageError(error.message) from None


def filtered(
    shown: Sequence[Mapping[str, Any]], filters: Sequence[tuple[str, str]]
) -> list[Mapping[str, Any]]:
    """dockerd's FilterNetworks over what the swarm answered (its names and ID
    prefixes matched already): ``name`` and ``id`` as Go's ``filters.Match`` (the
    value itself, or a regular expression found in it), the rest through the Engine
    API layer's ``network_matches``; ``type`` keeps builtin or custom networks."""
    wanted = _by_key(filters)
    dangling = dangling_of(Filters(wanted))
    shared = Filters({k: v for k, v in wanted.items() if k not in ("dangling", "type")})
    types = wanted.get("type", ())
    return [
        n
        for n in shown
        if network_matches(n, shared, dangling)
        and _go_match(wanted.get("name", ()), n["Name"])
        and _go_match(wanted.get("id", ()), n["Id"])
        and (not types or ("builtin" if is_predefined(n["Name"]) else "custom") in types)
    ]


def _by_key(filters: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    by_key: dict[str, tuple[str, ...]] = {}
    for key, value in filters:
        if value not in by_key.get(key, ()):
            by_key[key] = (*by_key.get(key, ()), value)
    return by_key


def _go_match(patterns: Sequence[str], text: str) -> bool:
    """Go's ``filters.Args.Match``: no values, the value itself, or a value that as
    a regular expression matches somewhere in ``text`` (a bad one matches nothing)."""
    if not patterns or text in patterns:
        return True
    for pattern in patterns:
        try:
            if re.search(pattern, text):
                return True
        except re.error:
            continue
    return False
