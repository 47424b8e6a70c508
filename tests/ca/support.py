"""Shared helpers for the PKI tests: seeded entropy streams and a ready-made cluster CA."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.ca.issue import new_csr, sign_node_certificate
from core.ca.keys import certificate_pem, key_pem
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


def given_root(
    wall: float = WALL,
    *,
    years: float = 5,
    key: ec.EllipticCurvePrivateKey | None = None,
    ca: bool = True,
    ski: bool = True,
    starts_in: dt.timedelta = dt.timedelta(0),
) -> tuple[str, str]:
    """A root a user gives with ``--ca-cert``/``--ca-key`` (PEM certificate and key),
    valid for ``years`` from ``starts_in`` after ``wall``; ``ca`` and ``ski`` say
    whether it carries BasicConstraints CA:TRUE and a SubjectKeyIdentifier."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "my-ca")])
    start = dt.datetime.fromtimestamp(wall, dt.UTC) + starts_in
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * years))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    if ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
    return certificate_pem(builder.sign(key, hashes.SHA256())).decode(), key_pem(key).decode()
