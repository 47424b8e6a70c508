"""A node's TLS credentials: its key, its certificate and the cluster root it trusts.

They are part of the node's durable identity (SwarmKit keeps them as ``swarm-node.key``,
``swarm-node.crt`` and ``swarm-root-ca.crt``). A certificate is accepted only when it was
issued by that root to that key (``accept``), so a node never installs one it cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from core.ca import keys, validity
from core.ca.errors import CAError
from core.ca.root import RootCA
from core.ca.verify import UNKNOWN_AUTHORITY, PeerIdentity, peer_identity


@dataclass(frozen=True)
class NodeCredentials:
    """PEM key, certificate and root; the parsed certificate is derived from them."""

    key_pem: bytes
    cert_pem: bytes
    root_pem: bytes
    certificate: x509.Certificate = field(init=False, repr=False, compare=False)
    not_after: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cert = keys.load_certificate(self.cert_pem)
        object.__setattr__(self, "certificate", cert)
        object.__setattr__(self, "not_after", validity.cert_window(cert).not_after)

    @property
    def identity(self) -> PeerIdentity:
        """Who the certificate says this node is (CN, OU as a role, O)."""
        return peer_identity(self.certificate)

    @property
    def root(self) -> RootCA:
        return RootCA(self.root_pem)

    def expired(self, wall: float) -> bool:
        """Past NotAfter at ``wall``: no peer accepts the certificate any more."""
        return wall > self.not_after


def accept(key_pem: bytes, cert_pem: bytes, root: RootCA) -> NodeCredentials:
    """Credentials from a certificate a manager issued for ``key_pem``: refused unless
    ``root`` signed it and it certifies that key."""
    credentials = NodeCredentials(key_pem, cert_pem, root.cert_pem)
    cert = credentials.certificate
    try:
        cert.verify_directly_issued_by(root.certificate)
    except (ValueError, TypeError, InvalidSignature):
        raise CAError(UNKNOWN_AUTHORITY) from None
    if keys.load_key_pem(key_pem).public_key() != cert.public_key():
        raise CAError("certificate key mismatch")
    credentials.identity  # noqa: B018 - a certificate that names no node is refused here
    return credentials
