"""A node's TLS credentials: its key, its certificate and the cluster root it trusts.

They are part of the node's durable identity (SwarmKit keeps them as ``swarm-node.key``,
``swarm-node.crt`` and ``swarm-root-ca.crt``). A certificate is accepted only when it was
issued by that root to that key (``accept``), so a node never installs one it cannot use.
During a root rotation the certificate PEM also holds the cross-signed intermediate and
the root PEM holds two roots, the cluster's first (:mod:`core.ca.chain`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509

from core.ca import chain, keys, validity
from core.ca.errors import CAError
from core.ca.root import RootCA
from core.ca.verify import PeerIdentity, peer_identity
from core.model.common import TLSInfo


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
        """The cluster's root (the first of the trusted roots): what join tokens name."""
        return RootCA(chain.split_pems(self.root_pem)[0])

    @property
    def issuer_info(self) -> TLSInfo:
        """What the node reports as its ``Description.TLSInfo``."""
        return chain.tls_info(self.cert_pem, self.root_pem)

    def trusting(self, roots_pem: bytes) -> NodeCredentials:
        """These credentials trusting ``roots_pem`` instead: the intermediate is dropped
        once a single root is trusted and signed the certificate itself (a rotation
        is over), and kept while peers may still trust only the old root."""
        cert_pem = self.cert_pem
        roots = chain.load_all(roots_pem)
        if len(roots) == 1 and chain.issued_by(self.certificate, roots[0]):
            cert_pem = chain.leaf_only(cert_pem)
        return NodeCredentials(self.key_pem, cert_pem, roots_pem)

    def issued_by(self, issuer: TLSInfo) -> bool:
        """Whether the certificate's issuer is the one ``issuer`` describes; a
        certificate no trusted root vouches for is from no one wanted."""
        try:
            mine = self.issuer_info
        except CAError:
            return False
        return (mine.cert_issuer_subject, mine.cert_issuer_public_key) == (
            issuer.cert_issuer_subject,
            issuer.cert_issuer_public_key,
        )

    def expired(self, wall: float) -> bool:
        """Past NotAfter at ``wall``: no peer accepts the certificate any more."""
        return wall > self.not_after


def accept(key_pem: bytes, cert_pem: bytes, root: RootCA | bytes) -> NodeCredentials:
    """Credentials from a certificate a manager issued for ``key_pem``: refused unless
    ``root`` (or one of the roots of a bundle, through the chain's intermediate) signed
    it and it certifies that key."""
    roots_pem = root.cert_pem if isinstance(root, RootCA) else root
    credentials = NodeCredentials(key_pem, cert_pem, roots_pem)
    cert = credentials.certificate
    chain.chain_issuer(cert_pem, roots_pem)  # raises Go's unknown-authority error
    if keys.load_key_pem(key_pem).public_key() != cert.public_key():
        raise CAError("certificate key mismatch")
    credentials.identity  # noqa: B018 - a certificate that names no node is refused here
    return credentials
