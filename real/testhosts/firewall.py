"""Network faults of one test host: nftables rules inside the host's own namespace.

Each host has one table (``inet shoaltest``) whose content is derived from four facts: is
the host cut off from everyone, which peer addresses may it not send to, what share of its
packets is lost, and what share of what it sends is duplicated (that one rule lives in an
``ip shoaltest`` table, there only while it is on: nft's ``dup`` has no inet form). Every
change rewrites the tables in one nft transaction (declare, delete, redeclare), so the
rules always match the state, a heal is exact, and a failed write changes nothing. Every
rule carries a comment with the run id, so leftovers are recognisable as ours.

A one-way cut "A cannot reach B" drops packets A sends to B's address (output, and forward
for traffic routed through A); B's packets still arrive at A. Loss drops a random share
(``numgen random``) of the packets in and out of the host's interface; duplication sends a
second copy of a random share of those going out, to the same next hop (``dup to ip
daddr``: the hosts share one link). Loopback is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from real.agent import nft
from real.agent.nft import NftError, apply, ruleset
from real.testhosts.network import HOST_IF

__all__ = ["FAMILY", "TABLE", "Firewall", "NftError", "apply", "render", "ruleset", "tables"]

TABLE = "shoaltest"
FAMILY = "inet"
#: The family of the duplication's table (nft 1.0.6 refuses ``dup to`` in an inet one).
DUP_FAMILY = "ip"
#: Shares are drawn as ``numgen random mod SCALE < share * SCALE``: steps of 0.01 %.
SCALE = 10000


def draw(share: float) -> str:
    """The match that holds for a random ``share`` of packets (none needed for all:
    nft takes no bound past the modulus)."""
    below = round(share * SCALE)
    return f"numgen random mod {SCALE} < {below} " if below < SCALE else ""


def render(
    tag: str, isolated: bool, blocked: Iterable[str], loss: float = 0.0, duplicate: float = 0.0
) -> str:
    """The nft script that makes the host's tables say exactly this."""
    out: list[str] = []
    inp: list[str] = []
    if isolated:
        inp.append(f'iifname "{HOST_IF}" drop comment "{tag}:isolate"')
        out.append(f'oifname "{HOST_IF}" drop comment "{tag}:isolate"')
    for address in sorted(set(blocked)):
        out.append(f'ip daddr {address} drop comment "{tag}:cut {address}"')
    if loss:
        inp.append(f'iifname "{HOST_IF}" {draw(loss)}drop comment "{tag}:loss {loss:.2%}"')
        out.append(f'oifname "{HOST_IF}" {draw(loss)}drop comment "{tag}:loss {loss:.2%}"')

    def chain(hook: str, rules: list[str], priority: int = -10) -> str:
        return nft.chain(hook, rules, f"type filter hook {hook} priority {priority}")

    body = [chain("input", inp), chain("output", out), chain("forward", inp + out)]
    script = nft.replace(TABLE, body, family=FAMILY)
    if not duplicate:
        return script + nft.remove(TABLE, family=DUP_FAMILY)
    copy = (
        f'oifname "{HOST_IF}" {draw(duplicate)}dup to ip daddr device "{HOST_IF}" '
        f'comment "{tag}:duplicate {duplicate:.2%}"'
    )
    # after the inet table's drops (priority 0 > -10): what is cut or lost has no copy
    return script + nft.replace(TABLE, [chain("output", [copy], 0)], family=DUP_FAMILY)


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
        self.loss = 0.0
        self.duplicate = 0.0
        self.sync()

    def sync(self) -> None:
        script = render(self.tag, self.isolated, self.blocked, self.loss, self.duplicate)
        apply(self.netns_path, script)

    def shape(self, isolated: bool, blocked: Iterable[str]) -> None:
        """Exactly this isolation and these one-way cuts (loss and duplication stay)."""
        self.isolated, self.blocked = isolated, set(blocked)
        self.sync()

    def lose(self, share: float) -> None:
        """Drop ``share`` of the packets in and out of the host (0: none)."""
        self.loss = share
        self.sync()

    def duplicate_sent(self, share: float) -> None:
        """Send ``share`` of the host's outgoing packets twice (0: none)."""
        self.duplicate = share
        self.sync()

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
        """Every network fault of the host gone."""
        self.isolated = False
        self.blocked.clear()
        self.loss = self.duplicate = 0.0
        self.sync()
