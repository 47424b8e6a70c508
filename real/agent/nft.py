"""nftables in a network namespace: one own table per job, replaced in one transaction.

Each job (a balancer table, the host's routing-mesh rules, IPVS's marks) owns one nft
table and rewrites it whole: the script declares the table, deletes it and declares it
again with its new content, all in one ``nft -f -`` run. nft applies a script as one
transaction, so a table never shows half of an update, and a script nft refuses
changes nothing. The table is removed the same way (declare, then delete), which is a
no-op when it is not there.

``nsenter --net=PATH`` (not ``ip netns exec``, which remounts /sys: real-backend.md
§7) runs nft inside the namespace, whichever namespace the caller lives in.
Also here: the match for a virtual service's traffic, shared by the nftables and IPVS
balancers (nft 1.0.6 wants ``;`` before a one-line chain body's ``}``, and a number, not
``dstnat``, as an output hook's priority: real-backend.md §2.2).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from core.dataplane.balance import VirtualService

FAMILY = "ip"
#: The protocols a VIP balances (every port of each); anything else, such as a ping,
#: is answered by the namespace that holds the VIP, as with Docker's IPVS.
VIP_PROTOCOLS = "{ tcp, udp, sctp }"
#: Hook priorities as numbers: nft 1.0.6 takes no ``dstnat`` in an output hook.
DSTNAT = -100
SRCNAT = 100
MANGLE = -150


class NftError(Exception):
    """nft refused a script or could not run (its message says why)."""


def nsenter(netns_path: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside the network namespace at ``netns_path``."""
    return ["nsenter", f"--net={netns_path}", "--", *argv]


def _run(netns_path: str | None, argv: Sequence[str], script: str | None = None) -> str:
    """nft's output; None runs it in the caller's own namespace."""
    where = "the caller's namespace" if netns_path is None else netns_path
    try:
        done = subprocess.run(
            list(argv) if netns_path is None else nsenter(netns_path, argv),
            input=script,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as why:
        raise NftError(f"nft in {where}: {why}") from why
    if done.returncode != 0:
        shown = f"\n{script}" if script else ""
        raise NftError(f"nft {' '.join(argv[1:])} in {where}: {done.stderr.strip()}{shown}")
    return done.stdout


def apply(netns_path: str, script: str) -> None:
    """Load ``script`` into the namespace at ``netns_path``, as one transaction."""
    _run(netns_path, ["nft", "-f", "-"], script)


def tables(netns_path: str | None = None) -> list[str]:
    """``family name`` of every nft table in the namespace (the caller's if None)."""
    out = _run(netns_path, ["nft", "list", "tables"])
    return [line.removeprefix("table ").strip() for line in out.splitlines() if line.strip()]


def listing(netns_path: str, table: str) -> str:
    """One table as nft prints it (for checks and failure messages)."""
    return _run(netns_path, ["nft", "list", "table", FAMILY, table])


def ruleset(netns_path: str) -> str:
    """The namespace's whole ruleset as nft prints it (for checks and failure messages)."""
    return _run(netns_path, ["nft", "list", "ruleset"])


def replace(table: str, body: Sequence[str], family: str = FAMILY) -> str:
    """The script that makes ``table`` hold exactly ``body`` (its chains and sets,
    already indented one tab)."""
    return (
        f"table {family} {table}\n"
        f"delete table {family} {table}\n"
        f"table {family} {table} {{\n" + "".join(body) + "}\n"
    )


def remove(table: str, family: str = FAMILY) -> str:
    """The script that removes ``table``, there or not."""
    return f"table {family} {table}\ndelete table {family} {table}\n"


def chain(name: str, rules: Sequence[str], hook: str = "") -> str:
    """A chain block; ``hook`` is its ``type ... hook ... priority ...`` line, if a base
    chain."""
    head = f"\t\t{hook}; policy accept;\n" if hook else ""
    return f"\tchain {name} {{\n{head}" + "".join(f"\t\t{rule}\n" for rule in rules) + "\t}\n"


def match(service: VirtualService) -> str:
    """What selects a virtual service's packets: its VIP (every port of the balanced
    protocols), or its published protocol and port (on any address)."""
    if service.vip:
        return f"ip daddr {service.vip} meta l4proto {VIP_PROTOCOLS}"
    return f"meta l4proto {service.protocol} th dport {service.port}"
