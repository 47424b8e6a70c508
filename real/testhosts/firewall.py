"""Network faults of one test host: nftables rules inside the host's own namespace.

Each host has one table (``inet shoaltest``) whose content is derived from two facts: is the
host cut off from everyone, and which peer addresses may it not send to. Every change
rewrites the whole table in one nft transaction (declare, delete, redeclare), so the rules
always match the state, a heal is exact, and a failed write changes nothing. Every rule
carries a comment with the run id, so leftovers are recognisable as ours.

A one-way cut "A cannot reach B" drops packets A sends to B's address (output, and forward
for traffic routed through A); B's packets still arrive at A. Loopback is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from real.agent import nft
from real.agent.nft import NftError, apply, ruleset
from real.testhosts.network import HOST_IF

__all__ = ["FAMILY", "TABLE", "Firewall", "NftError", "apply", "render", "ruleset", "tables"]

TABLE = "shoaltest"
FAMILY = "inet"


def render(tag: str, isolated: bool, blocked: Iterable[str]) -> str:
    """The nft script that makes the host's table say exactly this."""
    out: list[str] = []
    inp: list[str] = []
    if isolated:
        inp.append(f'iifname "{HOST_IF}" drop comment "{tag}:isolate"')
        out.append(f'oifname "{HOST_IF}" drop comment "{tag}:isolate"')
    for address in sorted(set(blocked)):
        out.append(f'ip daddr {address} drop comment "{tag}:cut {address}"')

    def chain(hook: str, rules: list[str]) -> str:
        return nft.chain(hook, rules, f"type filter hook {hook} priority -10")

    body = [chain("input", inp), chain("output", out), chain("forward", inp + out)]
    return nft.replace(TABLE, body, family=FAMILY)


def tables(netns_path: str | None = None) -> list[str]:
    """``family name`` of every nft table in a namespace (the root one if None); an
    OSError when nft cannot list them (the namespace is going away), as the sweeper
    expects."""
    try:
        return nft.tables(netns_path)
    except NftError as error:
        raise OSError(str(error)) from error


class Firewall:
    """The fault state of one host and the table that enforces it."""

    def __init__(self, netns_path: str, tag: str) -> None:
        self.netns_path = netns_path
        self.tag = tag
        self.isolated = False
        self.blocked: set[str] = set()
        self.sync()

    def sync(self) -> None:
        apply(self.netns_path, render(self.tag, self.isolated, self.blocked))

    def isolate(self) -> None:
        self.isolated = True
        self.sync()

    def block(self, address: str) -> None:
        self.blocked.add(address)
        self.sync()

    def unblock(self, address: str) -> None:
        self.blocked.discard(address)
        self.sync()

    def heal(self) -> None:
        self.isolated = False
        self.blocked.clear()
        self.sync()
