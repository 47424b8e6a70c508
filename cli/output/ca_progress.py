"""The progress ``docker swarm ca --rotate`` shows while a root rotation converges
(docker/cli's ``progress.RootRotationProgress``): the desired root's digest, how many
nodes present a certificate from it, and how many trust it alone.

A node counts as rotated when its ``Description.TLSInfo`` issuer (subject and public
key) is the cluster's; its trust root counts only once the rotation is over (while it
lasts the CLI shows zero), and the wait ends when both counts are every node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from core.model.cluster import Cluster
from core.model.node import Node

CERTS: Final = "  rotated TLS certificates"
ROOTS: Final = "  rotated CA certificates"
_BAR_WIDTH: Final = 50
#: How long ``swarm ca --rotate`` waits for a rotation to converge (Docker waits until
#: interrupted), and how often it looks.
ROTATION_WAIT_SECONDS: Final = 600.0
ROTATION_POLL_SECONDS: Final = 0.5
#: What Docker says when the wait is interrupted (a down node holds a rotation open).
ROTATION_CONTINUES: Final = (
    "Operation continuing in background.\nUse `swarmctl cluster inspect default` to check progress."
)

#: The swarm and its nodes now, or None when they cannot be read.
ReadSwarm = Callable[[], tuple[Cluster, Sequence[Node]] | None]


def bar(current: int, total: int, units: str) -> str:
    """moby's ``JSONProgress`` bar: 50 cells of ``=`` up to a ``>``, then the counts."""
    filled = _BAR_WIDTH * current // total if total else 0
    return f"[{'=' * filled}>{' ' * (_BAR_WIDTH - filled)}] {current}/{total} {units}"


def rotation_progress(cluster: Cluster, nodes: Sequence[Node]) -> tuple[str, bool]:
    """The progress lines for ``cluster`` and its ``nodes``, and whether it is done."""
    desired = cluster.tls_info
    certs = sum(
        1
        for node in nodes
        if node.description.tls_info.cert_issuer_subject == desired.cert_issuer_subject
        and node.description.tls_info.cert_issuer_public_key == desired.cert_issuer_public_key
    )
    roots = sum(1 for node in nodes if node.description.tls_info.trust_root == desired.trust_root)
    total = len(nodes)
    over = certs == total and not cluster.root_rotation_in_progress
    shown_roots = roots if over else 0
    digest = hashlib.sha256(desired.trust_root.encode()).hexdigest()
    lines = (
        f"desired root digest: sha256:{digest}",
        f"{CERTS}:  {bar(certs, total, 'nodes')}",
        f"{ROOTS}:   {bar(shown_roots, total, 'nodes')}",
    )
    return "\n".join(lines), over and roots == total


def await_rotation(
    read: ReadSwarm,
    pause: Callable[[float], None],
    clock: Callable[[], float],
    seconds: float = ROTATION_WAIT_SECONDS,
) -> str:
    """``swarm ca --rotate`` without ``-d``: look until every node has a certificate
    from the new root and trusts it alone, or ``seconds`` pass on ``clock`` (the real
    one, or simulated time that ``pause`` runs on); the last progress, with Docker's
    words for a wait cut short."""
    shown, done = "", False
    deadline = clock() + seconds
    while not done and clock() < deadline:
        swarm = read()
        if swarm is None:
            break
        shown, done = rotation_progress(*swarm)
        if not done:
            pause(ROTATION_POLL_SECONDS)
    return shown if done else f"{shown}\n{ROTATION_CONTINUES}"
