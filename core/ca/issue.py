"""Node certificates: the node builds a CSR, a manager holding the CA key signs it.

Only the CSR's public key is trusted (SwarmKit's ``SigningPolicy`` whitelist): the subject
and SANs come from the CA's own decision about the node (``PrepareCSR``): CN = node ID,
OU = ``swarm-manager`` or ``swarm-worker``, O = cluster ID; SANs [OU, CN], plus ``swarm-ca``
for managers so that joining nodes can dial any manager for their first certificate.
Usages follow the cfssl profile: signing, key encipherment, server auth and client auth.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.ca import keys, names, policy, template, validity
from core.ca.errors import CAError
from core.ca.root import RootCA
from core.model.enums import NodeRole


class NodeKeyAndCSR(NamedTuple):
    """A node's fresh private key and the CSR for it (both PEM)."""

    key_pem: bytes
    csr_pem: bytes


def new_csr(entropy: keys.Entropy) -> NodeKeyAndCSR:
    """A new key and a CSR with an empty subject, as SwarmKit's ``GenerateNewCSR``: the CA
    decides every name, so the node asserts none."""
    key = keys.derive_key(entropy)
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    signed = csr.sign(key, keys.HASH, ecdsa_deterministic=True)
    return NodeKeyAndCSR(keys.key_pem(key), signed.public_bytes(serialization.Encoding.PEM))


def effective_expiry(expiry: int) -> int:
    """SwarmKit's ``SigningPolicy``: a lifetime under the minimum falls back to the default."""
    return policy.DEFAULT_NODE_CERT_EXPIRY if expiry < policy.MIN_NODE_CERT_EXPIRY else expiry


def check_cert_expiry(expiry: int) -> None:
    """The control API's check of ``--cert-expiry``, with its message (InvalidArgument)."""
    if expiry < policy.MIN_NODE_CERT_EXPIRY:
        raise CAError("minimum certificate expiry time is: 1h0m0s")


def _load_csr(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    """The CSR's public key, once its self-signature checks out."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as error:
        raise CAError(f"failed to sign node certificate: {error}") from None
    if not csr.is_signature_valid:
        raise CAError("failed to sign node certificate: CSR signature is invalid")
    public = csr.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != keys.CURVE.name:
        raise CAError("failed to sign node certificate: the CSR key is not ECDSA P-256")
    return public


def sign_node_certificate(
    root: RootCA,
    csr_pem: bytes,
    *,
    node_id: str,
    role: NodeRole,
    cluster_id: str,
    wall: float,
    entropy: keys.Entropy,
    expiry: int = policy.DEFAULT_NODE_CERT_EXPIRY,
) -> bytes:
    """The PEM certificate for ``node_id`` in ``role``, valid from an hour before ``wall``
    until ``expiry`` seconds after it (the cluster's ``CAConfig.NodeCertExpiry``)."""
    public = _load_csr(csr_pem)
    ou = policy.ROLE_OU[role]
    sans = [ou, node_id] + ([policy.CA_SAN] if role is NodeRole.MANAGER else [])
    span = validity.window(
        wall, effective_expiry(expiry) + policy.NODE_CERT_BACKDATE, policy.NODE_CERT_BACKDATE
    )
    subject = x509.Name(
        [
            names.attribute(NameOID.ORGANIZATION_NAME, cluster_id),
            names.attribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            names.attribute(NameOID.COMMON_NAME, node_id),
        ]
    )
    builder = (
        template.certificate_builder(
            subject=subject,
            issuer=root.certificate.subject,
            public=public,
            span=span,
            entropy=entropy,
            ca=False,
            extra=(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
            ),
        )
        .add_extension(root.authority_key_identifier(), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False
        )
    )
    return keys.certificate_pem(keys.sign_certificate(builder, root.signing_key()))
