"""Shared helpers for the PKI tests: seeded entropy streams and a ready-made cluster CA."""

from __future__ import annotations

import random
from collections.abc import Callable

from cryptography import x509

from core.ca.issue import new_csr, sign_node_certificate
from core.ca.root import RootCA, create_root_ca
from core.model.enums import NodeRole

#: 2023-11-14T22:13:20Z: a wall time that is not on a minute boundary.
WALL = 1_700_000_000.0
NODE = "7ih8jtxd4hyrqdvasdkr3sz2x"
CLUSTER = "ixz3ydxzy7s2tlv8bmd3xe5ds"


def entropy(seed: int) -> Callable[[int], bytes]:
    """A deterministic entropy stream, as the simulator's child streams are."""
    rng = random.Random(seed)
    return rng.randbytes


def make_root(seed: int = 1, wall: float = WALL) -> RootCA:
    return create_root_ca(entropy(seed), wall)


def node_cert(
    root: RootCA,
    role: NodeRole = NodeRole.WORKER,
    *,
    seed: int = 2,
    wall: float = WALL,
    expiry: int | None = None,
    node_id: str = NODE,
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for a node, its key and serial from ``seed``."""
    stream = entropy(seed)
    pair = new_csr(stream)
    extra = {} if expiry is None else {"expiry": expiry}
    cert = sign_node_certificate(
        root,
        pair.csr_pem,
        node_id=node_id,
        role=role,
        cluster_id=CLUSTER,
        wall=wall,
        entropy=stream,
        **extra,
    )
    return cert, pair.key_pem


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)
