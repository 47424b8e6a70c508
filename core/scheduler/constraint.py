"""Placement constraints: ``key==value`` / ``key!=value`` over a node's attributes.

The language is SwarmKit's (``manager/constraint``): the keys ``node.id``,
``node.hostname``, ``node.role``, ``node.platform.os``, ``node.platform.arch``,
``node.ip`` (an address or a CIDR), ``node.labels.<key>`` and ``engine.labels.<key>``;
keys are case-insensitive, label names after the prefix are case-sensitive, values
compare case-insensitively, and a missing attribute reads as ``""`` (so ``!=``
matches a node without the label). Unlike SwarmKit, an unknown key or a malformed
``node.ip`` value is refused when the service is created instead of silently never
matching: a service that can never be placed is a mistake worth naming.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from core.errors import InvalidSpec
from core.model.node import Node

NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."
_OPERATORS = ("==", "!=")  # SwarmKit looks for them in this order
_KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
_VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)
_FIXED_KEYS = (
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
    "node.ip",
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Constraint:
    """One parsed constraint. ``key`` is lowercased for the fixed keys; for labels
    it is the prefix (lowercased) followed by the label name as written."""

    key: str
    equal: bool
    value: str
    network: IPNetwork | None = None  # node.ip's value as a network (/32 for one address)

    def matches(self, node: Node) -> bool:
        if self.network is not None:
            return self._matches_ip(node.status.addr)
        found = self.value.casefold() == _attribute(node, self.key).casefold()
        return found == self.equal

    def _matches_ip(self, addr: str) -> bool:
        try:
            within = ipaddress.ip_address(addr) in self.network  # type: ignore[operator]
        except ValueError:
            within = False
        return within == self.equal


def _attribute(node: Node, key: str) -> str:
    if key.startswith(NODE_LABEL_PREFIX):
        return node.spec.labels.get(key[len(NODE_LABEL_PREFIX) :], "")
    if key.startswith(ENGINE_LABEL_PREFIX):
        return node.description.engine.labels.get(key[len(ENGINE_LABEL_PREFIX) :], "")
    description = node.description
    if key == "node.id":
        return node.id
    if key == "node.hostname":
        return description.hostname
    if key == "node.role":
        return str(node.spec.role or "")
    if key == "node.platform.os":
        return description.platform.os
    if key == "node.platform.arch":
        return description.platform.architecture
    raise AssertionError(f"unparsed constraint key {key!r}")  # parse_constraint refuses it


def parse_constraint(field: str, text: str) -> Constraint:
    """Parse one constraint, raising :class:`InvalidSpec` naming ``field``."""
    operator = next((op for op in _OPERATORS if op in text), None)
    if operator is None:
        raise InvalidSpec(field, text, "a constraint is key==value or key!=value")
    raw_key, raw_value = (part.strip() for part in text.split(operator, 1))
    key = _normalise_key(field, text, raw_key)
    if raw_value == "":
        raise InvalidSpec(field, text, "the constraint has no value")
    if not _VALUE.match(raw_value):
        raise InvalidSpec(field, text, f"the value {raw_value!r} holds characters not allowed")
    network = _ip_network(field, text, raw_value) if key == "node.ip" else None
    return Constraint(key=key, equal=operator == "==", value=raw_value, network=network)


def parse_constraints(texts: tuple[str, ...]) -> tuple[Constraint, ...]:
    """Parse a placement's constraints (fields named ``Placement.Constraints[i]``)."""
    return tuple(
        parse_constraint(f"Placement.Constraints[{index}]", text)
        for index, text in enumerate(texts)
    )


def node_matches(constraints: tuple[Constraint, ...], node: Node) -> bool:
    """Whether ``node`` satisfies every constraint (they are ANDed)."""
    return all(constraint.matches(node) for constraint in constraints)


def _normalise_key(field: str, text: str, key: str) -> str:
    if not _KEY.match(key):
        raise InvalidSpec(field, text, f"the key {key!r} is not a valid constraint key")
    lowered = key.lower()
    if lowered in _FIXED_KEYS:
        return lowered
    for prefix in (NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX):
        if lowered.startswith(prefix) and len(key) > len(prefix):
            return prefix + key[len(prefix) :]
    raise InvalidSpec(
        field,
        text,
        f"unknown constraint key {key!r}; use node.id, node.hostname, "
        "node.role, node.platform.os, node.platform.arch, node.ip, "
        "node.labels.<key> or engine.labels.<key>",
    )


def _ip_network(field: str, text: str, value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidSpec(
            field, text, f"node.ip takes an IP address or a CIDR, not {value!r}"
        ) from None
