"""The values of Docker's service flags, parsed as the docker CLI parses them (its
``opts`` package): durations, CPUs, memory sizes, published ports, key=value lists.
Each refuses bad text with the reason Docker gives, for :func:`flags.go_value`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from cli.commands.flags import go_value
from core.model.duration import parse_duration
from core.model.enums import PortProtocol, PublishMode
from core.model.service import PortConfig


def _duration(text: str) -> int:
    return parse_duration(text)


def _duration_reason(text: str) -> str:
    try:
        parse_duration(text)
    except Exception as error:  # the Go message: time: unknown unit "x" in duration "10x"
        return str(error)
    return "invalid duration"


#: Go's ``time.ParseDuration`` (``--update-delay 10s``), in nanoseconds.
DURATION = go_value(_duration, _duration_reason)


def _cpus(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    nanos = value * 1_000_000_000
    if nanos != nanos.to_integral_value() or nanos < 0:
        raise ValueError(text)
    return int(nanos)


#: ``--reserve-cpu 0.5``, in billionths of a CPU (the CLI's ``NanoCPUs``).
CPUS = go_value(_cpus, lambda t: f"failed to parse {t} as a rational number")

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _bytes(text: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(text)
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])


#: ``--reserve-memory 512M`` (go-units' ``RAMInBytes``: binary multiples).
MEMORY = go_value(_bytes, lambda t: f"invalid size: '{t}'")


def _port(text: str) -> PortConfig:
    """``8080:80``, ``80``, ``8080:80/udp``, or the long ``published=8080,target=80,
    protocol=udp,mode=host``."""
    if "=" in text:
        return _long_port(text)
    ports, _, protocol = text.partition("/")
    published, _, target = ports.rpartition(":")
    if not target.isdigit() or (published and not published.isdigit()):
        raise ValueError(text)
    return PortConfig(
        protocol=PortProtocol(protocol or "tcp"),
        target_port=int(target),
        published_port=int(published) if published else 0,
    )


def _long_port(text: str) -> PortConfig:
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    unknown = set(fields) - {"published", "target", "protocol", "mode"}
    if unknown or "target" not in fields:
        raise ValueError(text)
    return PortConfig(
        protocol=PortProtocol(fields.get("protocol", "tcp")),
        target_port=int(fields["target"]),
        published_port=int(fields.get("published", "0")),
        publish_mode=PublishMode(fields.get("mode", "ingress")),
    )


#: ``--publish 8080:80``.
PORT = go_value(
    _port,
    lambda t: f"invalid port spec {t!r}" if ":" in t or "=" in t else f"invalid containerPort: {t}",
)


def key_value(text: str) -> tuple[str, str]:
    """``--label k=v`` (``k`` alone is ``k=``)."""
    key, _, value = text.partition("=")
    return key, value
