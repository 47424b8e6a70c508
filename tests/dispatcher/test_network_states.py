"""Pieces of the dispatcher's network states (the whole is exercised in
tests/cluster/test_networking.py)."""

from __future__ import annotations

import pytest

from core.dispatcher.networks import underlay


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("10.231.0.2:2377", "10.231.0.2"),
        ("10.231.0.2", "10.231.0.2"),
        ("[fd00::2]:2377", "fd00::2"),
        ("worker-3", "worker-3"),
    ],
)
def test_a_nodes_underlay_address_is_its_address_without_the_swarm_port(
    addr: str, expected: str
) -> None:
    assert underlay(addr) == expected
