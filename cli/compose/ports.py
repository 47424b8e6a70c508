"""A service's ``ports`` as the docker CLI reads them: the short syntax
(``"8080:80"``, ``81:8000``, ``"9090-9091:8080-8081"``, ``"127.0.0.1:80:80/udp"``,
a bare number) through the Engine's port-spec rules, each mapping one
ingress-mode port; the long syntax (``target``, ``published``, ``protocol``,
``mode``) as it is. Docker sorts a service's ports by published port, and so does shoal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cli.compose import ComposeError
from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig

_PROTOCOLS = ("tcp", "udp", "sctp")


def _range(text: str, what: str, spec: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        raise ComposeError(
            f"invalid {what}: {text}" if sep or not low else f"invalid {what}: {spec}"
        )
    first, last = int(low), int(high) if sep else int(low)
    if first > 65535 or last > 65535 or last < first:
        raise ComposeError(f"invalid {what}: {text}")
    return first, last


def short(value: str | int | float) -> list[PortConfig]:
    """The ports one short-syntax entry publishes."""
    spec = str(int(value)) if isinstance(value, int | float) else value
    ports, _, protocol = spec.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in _PROTOCOLS:
        raise ComposeError(f"invalid proto: {protocol}")
    if ports.startswith("[") and "]:" in ports:  # an IPv6 host address
        ports = ports.split("]:", 1)[1]
    parts = ports.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise ComposeError(
            f"invalid port format: {spec}"
            if len(parts) > 3
            else f"no port specified: {spec}<empty>"
        )
    published = parts[-2] if len(parts) >= 2 else ""
    targets = _range(parts[-1], "containerPort", parts[-1])
    count = targets[1] - targets[0] + 1
    if published:
        low, high = _range(published, "hostPort", published)
        if high - low + 1 != count and high != low:
            raise ComposeError(
                "invalid ranges specified for container and host Ports: "
                f"{parts[-1]} and {published}"
            )
        hosts = [low + i if high != low else low for i in range(count)]
    else:
        hosts = [0] * count
    made = [
        PortConfig(
            protocol=PortProtocol(protocol),
            target_port=targets[0] + i,
            published_port=hosts[i],
            publish_mode=PublishMode.INGRESS,
        )
        for i in range(count)
    ]
    # docker/cli's toServicePortConfigs walks nat's port keys ("8080/tcp") as strings
    return sorted(made, key=lambda p: f"{p.target_port}/{protocol}")


def long(entry: Mapping[str, Any]) -> PortConfig:
    """One long-syntax entry."""
    mode = str(entry.get("mode") or "")  # none given: none sent, as docker/cli sends it
    protocol = str(entry.get("protocol") or "tcp").lower()
    if mode not in ("", "ingress", "host"):
        raise ComposeError(f"invalid publish mode: {mode}")
    if protocol not in _PROTOCOLS:
        raise ComposeError(f"invalid proto: {protocol}")
    published = entry.get("published") or 0
    if isinstance(published, str):
        published = _range(published, "hostPort", published)[0]
    return PortConfig(
        protocol=PortProtocol(protocol),
        target_port=int(entry.get("target") or 0),
        published_port=int(published),
        publish_mode=PublishMode(mode) if mode else None,
    )


def of(entries: list[Any]) -> tuple[PortConfig, ...]:
    """Every port of a service, in the file's order then sorted (stably) by the
    published port alone, as docker/cli's ``convertEndpointSpec`` sorts them."""
    result: list[PortConfig] = []
    for entry in entries:
        result += [long(entry)] if isinstance(entry, dict) else short(entry)
    return tuple(sorted(result, key=lambda port: port.published_port))
