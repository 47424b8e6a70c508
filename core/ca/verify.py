"""What the transport checks about a peer: who it is, and that the cluster CA vouches for it.

The TLS layer (stdlib ``ssl`` in real mode) already refuses certificates that do not chain to
the root; these functions let the driver and the simulator make the same decisions without a
handshake, at a wall time they pass in, with Go's ``crypto/x509`` wording.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from core.ca import keys, policy, validity
from core.ca.errors import CertificateRejected
from core.ca.root import RootCA
from core.model.enums import NodeRole

UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


class PeerIdentity(NamedTuple):
    """Who a node certificate names: CN, OU (as a role) and O."""

    node_id: str
    role: NodeRole
    cluster_id: str


def _single(cert: x509.Certificate, oid: x509.ObjectIdentifier, what: str) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str) or not values[0].value:
        raise CertificateRejected(f"invalid certificate: it must name exactly one {what}")
    return values[0].value


def peer_identity(cert: x509.Certificate | bytes) -> PeerIdentity:
    """The node ID, role and cluster ID a node certificate (DER, PEM or parsed) carries."""
    parsed = cert if isinstance(cert, x509.Certificate) else keys.load_certificate(cert)
    ou = _single(parsed, NameOID.ORGANIZATIONAL_UNIT_NAME, "organizational unit")
    role = policy.OU_ROLE.get(ou)
    if role is None:
        raise CertificateRejected(f"invalid certificate: unknown role {ou!r}")
    return PeerIdentity(
        node_id=_single(parsed, NameOID.COMMON_NAME, "common name"),
        role=role,
        cluster_id=_single(parsed, NameOID.ORGANIZATION_NAME, "organization"),
    )


def check_validity(cert: x509.Certificate, wall: float) -> None:
    """Refuse ``cert`` outside its window at ``wall`` (Go: NotBefore <= now <= NotAfter)."""
    span = validity.cert_window(cert)
    now = int(wall // 1)
    if wall < span.not_before:
        raise CertificateRejected(
            "x509: certificate has expired or is not yet valid: current time "
            f"{validity.rfc3339(now)} is before {validity.rfc3339(span.not_before)}"
        )
    if wall > span.not_after:
        raise CertificateRejected(
            "x509: certificate has expired or is not yet valid: current time "
            f"{validity.rfc3339(now)} is after {validity.rfc3339(span.not_after)}"
        )


def is_expired(cert: x509.Certificate, wall: float) -> bool:
    """Whether ``cert`` is past its NotAfter at ``wall``."""
    return wall > validity.cert_window(cert).not_after


def verify_node_certificate(
    cert: x509.Certificate | bytes, root: RootCA, wall: float
) -> PeerIdentity:
    """The identity of a peer certificate, once it is known to be signed by ``root`` and
    both are valid at ``wall``; otherwise :class:`CertificateRejected`."""
    parsed = cert if isinstance(cert, x509.Certificate) else keys.load_certificate(cert)
    try:
        parsed.verify_directly_issued_by(root.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateRejected(UNKNOWN_AUTHORITY) from None
    check_validity(parsed, wall)
    check_validity(root.certificate, wall)
    return peer_identity(parsed)
