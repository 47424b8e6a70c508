"""The cluster's root CA: a self-signed ECDSA P-256 certificate with CN ``swarm-ca``.

Made once at ``swarm init`` (SwarmKit's ``CreateRootCA``, via cfssl's ``initca``). Every node
keeps the certificate as its trust anchor; managers also keep the key to sign CSRs. The
digest, which join tokens carry, is the SHA-256 of the certificate's PEM bytes, exactly as
SwarmKit computes it (``digest.FromBytes`` of the PEM bundle).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.ca import keys, names, policy, template, validity
from core.ca.errors import CAError
from core.model.common import TLSInfo


@functools.lru_cache(maxsize=256)
def _checked_root(cert_pem: bytes, key_pem: bytes | None) -> x509.Certificate:
    """The root certificate, once it is known to sign itself and to go with ``key_pem``
    (if given). The same PEM is checked once: every node rebuilds its root from the
    PEM it holds, and the simulator runs many nodes in one process."""
    cert = keys.load_certificate(cert_pem)
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        raise CAError("error while validating Root CA Certificate") from None
    if key_pem is not None and keys.load_key_pem(key_pem).public_key() != cert.public_key():
        raise CAError("certificate key mismatch")
    return cert


@dataclass(frozen=True)
class RootCA:
    """A root certificate (PEM) and, on managers, its key (PEM; None on workers)."""

    cert_pem: bytes
    key_pem: bytes | None = None
    certificate: x509.Certificate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "certificate", _checked_root(self.cert_pem, self.key_pem))

    @property
    def digest(self) -> str:
        """SHA-256 of the PEM certificate, 64 lowercase hex digits (SwarmKit's RootCA.Digest)."""
        return hashlib.sha256(self.cert_pem).hexdigest()

    @property
    def can_sign(self) -> bool:
        """Whether this copy holds the key (a manager's) and can issue certificates."""
        return self.key_pem is not None

    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The CA key; only a copy that can sign has it."""
        if self.key_pem is None:
            raise CAError("no valid signer found")
        return keys.load_key_pem(self.key_pem)

    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """The ``AuthorityKeyIdentifier`` of what this root signs: from its
        ``SubjectKeyIdentifier``, or from its key when it has none (a root given with
        ``--ca-cert`` may lack one, which Go does not mind)."""
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.certificate.public_key()  # type: ignore[arg-type]
            )
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)

    def tls_info(self) -> TLSInfo:
        """What ``docker swarm inspect`` and ``docker node inspect`` show as ``TLSInfo``:
        the root PEM, and its subject and public key DER in base64."""
        cert = self.certificate
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return TLSInfo(
            trust_root=self.cert_pem.decode(),
            cert_issuer_subject=base64.b64encode(cert.subject.public_bytes()).decode(),
            cert_issuer_public_key=base64.b64encode(spki).decode(),
        )

    def public(self) -> RootCA:
        """The certificate alone: what a worker keeps and what managers send to joiners."""
        return RootCA(self.cert_pem)


def create_root_ca(entropy: keys.Entropy, wall: float) -> RootCA:
    """A fresh root CA for a swarm initialised at ``wall`` (seconds on the leader's clock)."""
    key = keys.derive_key(entropy)
    name = x509.Name([names.attribute(NameOID.COMMON_NAME, policy.ROOT_CN)])
    span = validity.window(wall, policy.ROOT_CA_EXPIRY, policy.ROOT_CA_BACKDATE)
    builder = template.certificate_builder(
        subject=name, issuer=name, public=key.public_key(), span=span, entropy=entropy, ca=True
    )
    cert = keys.sign_certificate(builder, key)
    return RootCA(keys.certificate_pem(cert), keys.key_pem(key))
