"""Certificate chains and trust bundles: PEM that holds more than one certificate.

During a root rotation a node's certificate comes with the cross-signed intermediate
(leaf, then the new root's certificate signed by the old key), and every node trusts a
bundle of roots (the cluster's root, then the root it rotates to). A leaf is accepted
when a trusted root signed it directly, or when an intermediate of its chain that a
trusted root signed did (one level: SwarmKit's rotation never makes more).
"""

from __future__ import annotations

import base64
import functools

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from core.ca import keys
from core.ca.errors import CAError
from core.ca.verify import UNKNOWN_AUTHORITY
from core.model.common import TLSInfo

_END = b"-----END CERTIFICATE-----"


def split_pems(data: bytes) -> list[bytes]:
    """Each ``CERTIFICATE`` block of ``data``, as PEM bytes ending in a newline."""
    blocks: list[bytes] = []
    rest = data
    while True:
        start = rest.find(b"-----BEGIN CERTIFICATE-----")
        end = rest.find(_END, max(start, 0))
        if start < 0 or end < 0:
            return blocks
        blocks.append(rest[start : end + len(_END)] + b"\n")
        rest = rest[end + len(_END) :]


def load_all(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; a bundle with none is refused."""
    blocks = split_pems(data)
    if not blocks:
        raise CAError("failed to parse certificate: no PEM certificate found")
    return [keys.load_certificate(block) for block in blocks]


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (and names match)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def chain_issuer(chain_pem: bytes, trust_pem: bytes) -> x509.Certificate:
    """The certificate (a trusted root, or an intermediate of the chain a trusted root
    signed) that signed the chain's leaf; Go's unknown-authority error otherwise.
    Worked out once per chain and trust (a pure function of the two PEMs: a node asks
    again each time it describes its TLS)."""
    leaf, *intermediates = load_all(chain_pem)
    roots = load_all(trust_pem)
    for root in roots:
        if issued_by(leaf, root):
            return root
    for intermediate in intermediates:
        if issued_by(leaf, intermediate) and any(issued_by(intermediate, r) for r in roots):
            return intermediate
    raise CAError(UNKNOWN_AUTHORITY)


@functools.lru_cache(maxsize=1024)
def tls_info(chain_pem: bytes, trust_pem: bytes) -> TLSInfo:
    """A node's ``Description.TLSInfo``: the cluster's root (the first it trusts: during
    a rotation SwarmKit's nodes trust the old root alone until it ends, so
    ``TrustRoot`` never shows the new one before then; the bundle is shoal's way of
    having them accept the new root's chains) and the subject and public key (DER,
    base64) of what issued its certificate. The cross-signed intermediate has the new
    root's subject and key, so a certificate from the new root shows the new root as
    its issuer either way. Worked out once per chain and trust (pure; immutable
    result): every heartbeat's roots are checked against it."""
    issuer = chain_issuer(chain_pem, trust_pem)
    spki = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TLSInfo(
        trust_root=split_pems(trust_pem)[0].decode(),
        cert_issuer_subject=base64.b64encode(issuer.subject.public_bytes()).decode(),
        cert_issuer_public_key=base64.b64encode(spki).decode(),
    )


def leaf_only(chain_pem: bytes) -> bytes:
    """The chain without its intermediates."""
    return split_pems(chain_pem)[0]
