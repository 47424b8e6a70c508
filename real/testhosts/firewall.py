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

import subprocess
from collections.abc import Iterable

from real.testhosts.network import HOST_IF
from real.testhosts.procs import nsenter

TABLE = "shoaltest"
FAMILY = "inet"


class NftError(Exception):
    """nft refused a ruleset (its message says why)."""


def render(tag: str, isolated: bool, blocked: Iterable[str]) -> str:
    """The nft script that makes the host's table say exactly this."""
    out: list[str] = []
    inp: list[str] = []
    if isolated:
        inp.append(f'iifname "{HOST_IF}" drop comment "{tag}:isolate"')
        out.append(f'oifname "{HOST_IF}" drop comment "{tag}:isolate"')
    for address in sorted(set(blocked)):
        out.append(f'ip daddr {address} drop comment "{tag}:cut {address}"')

    def chain(name: str, hook: str, rules: list[str]) -> str:
        body = "".join(f"\t\t{rule}\n" for rule in rules)
        return (
            f"\tchain {name} {{\n"
            f"\t\ttype filter hook {hook} priority -10; policy accept;\n{body}\t}}\n"
        )

    return (
        f"table {FAMILY} {TABLE}\n"
        f"delete table {FAMILY} {TABLE}\n"
        f"table {FAMILY} {TABLE} {{\n"
        + chain("input", "input", inp)
        + chain("output", "output", out)
        + chain("forward", "forward", inp + out)
        + "}\n"
    )


def apply(netns_path: str, script: str) -> None:
    """Load ``script`` into the namespace at ``netns_path`` (atomically)."""
    done = subprocess.run(
        nsenter(netns_path, ["nft", "-f", "-"]),
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise NftError(f"nft -f failed in {netns_path}: {done.stderr.strip()}\n{script}")


def tables(netns_path: str | None = None) -> list[str]:
    """``family name`` of every nft table in a namespace (the root one if None)."""
    argv = ["nft", "list", "tables"]
    done = subprocess.run(
        argv if netns_path is None else nsenter(netns_path, argv),
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.removeprefix("table ").strip() for line in done.stdout.splitlines() if line]


def ruleset(netns_path: str) -> str:
    """The host's whole ruleset as nft prints it (for checks and failure messages)."""
    return subprocess.run(
        nsenter(netns_path, ["nft", "list", "ruleset"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


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
