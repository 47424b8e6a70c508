"""Root CA rotation (``docker swarm ca --rotate``), as SwarmKit's ``controlapi/ca_rotation``
and ``ca/reconciler`` do it, as pure functions over the Cluster object's ``RootCA``.

1. ``swarm update`` with ``CAConfig.ForceRotate`` changed, or with a ``SigningCACert`` and
   ``SigningCAKey``, starts a rotation (:func:`requested_root`): the cluster keeps its
   root and gains a ``RootRotation``: the new root, its key, and the new root
   cross-signed by the current root's key.
2. While it lasts, the leader signs with the new key and hands out the cross-signed
   certificate as the intermediate of every certificate (:func:`signer`), and every
   node trusts both roots (:func:`trust_bundle`, the cluster's root first). A node
   whose certificate is not from the new root renews at once.
3. When every node reports a certificate issued by the new root (:func:`converged`),
   the leader finishes it (:func:`finish`): the new root becomes the cluster's root,
   the rotation is cleared, and (the caller's part) the join tokens are made anew for
   the new digest. Nodes then trust the new root alone and drop the intermediate.
"""

from __future__ import annotations

import functools
from typing import Final

from cryptography import x509

from core.ca import chain, keys
from core.ca.errors import CAError
from core.ca.keys import Entropy
from core.ca.root import RootCA, create_root_ca
from core.model import replace
from core.model.cluster import CAConfig, ClusterRootCA, RootRotation
from core.model.common import TLSInfo

#: A root given to rotate to must be valid at least this long (SwarmKit's
#: ``minRootExpiration``, cfssl's ``OneYear``: 8760 h).
MIN_ROOT_EXPIRY: Final = 8760 * 3600


def current_root(stored: ClusterRootCA) -> RootCA:
    """The cluster's root (what join tokens name), with its key."""
    return RootCA(stored.ca_cert.encode(), stored.ca_key.encode() or None)


def trust_bundle(stored: ClusterRootCA) -> bytes:
    """The roots every node trusts now: the cluster's, then the one it rotates to."""
    rotation = stored.root_rotation
    extra = rotation.ca_cert.encode() if rotation is not None else b""
    return _normalized(stored.ca_cert.encode()) + _normalized(extra)


def signer(stored: ClusterRootCA) -> tuple[RootCA, bytes]:
    """The root that signs node certificates now, with the intermediates (PEM) that go
    after each certificate: the new root and the cross-signed certificate during a
    rotation, the cluster's root and none otherwise."""
    rotation = stored.root_rotation
    if rotation is None:
        return current_root(stored), b""
    new = RootCA(rotation.ca_cert.encode(), rotation.ca_key.encode() or None)
    return new, rotation.cross_signed_ca_cert.encode()


def desired_issuer(stored: ClusterRootCA) -> TLSInfo:
    """The issuer (subject and key) a node's certificate must show to count as rotated
    (SwarmKit's ``IssuerFromAPIRootCA``)."""
    rotation = stored.root_rotation
    pem = rotation.ca_cert if rotation is not None else stored.ca_cert
    return RootCA(pem.encode()).tls_info()


def cluster_tls_info(stored: ClusterRootCA) -> TLSInfo:
    """The swarm's TLSInfo as dockerd shows it (``SwarmFromGRPC``): the trust root is
    the cluster's root, the issuer the desired one (the new root's during a rotation),
    so ``docker swarm ca --rotate`` counts the nodes already on it."""
    issuer = desired_issuer(stored)
    return replace(
        RootCA(stored.ca_cert.encode()).tls_info(),
        cert_issuer_subject=issuer.cert_issuer_subject,
        cert_issuer_public_key=issuer.cert_issuer_public_key,
    )


def converged(node_tls: TLSInfo, issuer: TLSInfo) -> bool:
    """Whether a node's reported certificate issuer is ``issuer`` (``hasIssuer``)."""
    return (
        node_tls.cert_issuer_subject == issuer.cert_issuer_subject
        and node_tls.cert_issuer_public_key == issuer.cert_issuer_public_key
    )


def cross_sign(old: RootCA, new: RootCA) -> bytes:
    """``new``'s certificate re-signed by ``old``'s key (SwarmKit's
    ``CrossSignCACertificate``): the same subject, key, serial, window and extensions,
    with ``old`` as issuer; a chain leaf -> this -> ``old`` verifies under ``old``."""
    cert = new.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(old.certificate.subject)
        .public_key(cert.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        if not isinstance(extension.value, x509.AuthorityKeyIdentifier):
            builder = builder.add_extension(extension.value, extension.critical)
    builder = builder.add_extension(old.authority_key_identifier(), critical=False)
    return keys.certificate_pem(keys.sign_certificate(builder, old.signing_key()))


def begin(stored: ClusterRootCA, new: RootCA, version: int) -> ClusterRootCA:
    """``stored`` rotating to ``new`` (which must hold its key); a rotation already
    under way is replaced, the new root cross-signed by the cluster's current root."""
    assert new.key_pem is not None
    crossed = cross_sign(current_root(stored), new)
    rotation = RootRotation(
        ca_cert=new.cert_pem.decode(),
        ca_key=new.key_pem.decode(),
        cross_signed_ca_cert=crossed.decode(),
    )
    return replace(stored, root_rotation=rotation, last_forced_rotation=version)


def finish(stored: ClusterRootCA) -> ClusterRootCA:
    """The rotation done: its root is the cluster's, and there is no rotation."""
    rotation = stored.root_rotation
    assert rotation is not None, "no root rotation to finish"
    new = RootCA(rotation.ca_cert.encode(), rotation.ca_key.encode() or None)
    return ClusterRootCA(
        ca_cert=rotation.ca_cert,
        ca_key=rotation.ca_key,
        ca_cert_hash=new.digest,
        last_forced_rotation=stored.last_forced_rotation,
    )


def requested_root(
    stored: ClusterRootCA, config: CAConfig, entropy: Entropy, wall: float
) -> ClusterRootCA:
    """What the cluster's ``RootCA`` becomes for the spec's ``CAConfig`` (SwarmKit's
    ``validateCAConfig``, without external CAs): unchanged, a new rotation, or a
    refusal in SwarmKit's words (:class:`CAError`)."""
    cert_pem, key_pem = config.signing_ca_cert.encode(), config.signing_ca_key.encode()
    if key_pem and not cert_pem:
        raise CAError("if a signing CA key is provided, the signing CA cert must also be provided")
    if not cert_pem:
        if stored.last_forced_rotation != config.force_rotate:
            return begin(stored, create_root_ca(entropy, wall), config.force_rotate)
        return stored
    if not key_pem:
        raise CAError(
            "there must be at least one valid, reachable external CA corresponding to the "
            "desired CA certificate"
        )
    desired = _desired_root(cert_pem, key_pem, wall)
    if desired.cert_pem == _normalized(stored.ca_cert.encode()):
        updated = replace(stored, ca_key=key_pem.decode(), root_rotation=None)
        return replace(updated, last_forced_rotation=config.force_rotate)
    if (
        keys.load_key_pem(key_pem).private_numbers()
        == current_root(stored).signing_key().private_numbers()
    ):
        raise CAError("Cannot update to a cert with an identical key")
    rotation = stored.root_rotation
    if rotation is not None and _normalized(rotation.ca_cert.encode()) == desired.cert_pem:
        return replace(stored, last_forced_rotation=config.force_rotate)
    return begin(stored, desired, config.force_rotate)


def _desired_root(cert_pem: bytes, key_pem: bytes, wall: float) -> RootCA:
    """A root given with ``--ca-cert``/``--ca-key``: one self-signed CA certificate, its
    key, valid at ``wall`` and for a year more at least (SwarmKit's ``NewRootCA``)."""
    blocks = chain.split_pems(cert_pem)
    if not blocks:
        raise CAError("could not parse the desired CA certificate")
    root = RootCA(blocks[0], key_pem)
    if len(blocks) != 1:
        raise CAError("the desired CA certificate cannot contain multiple certificates")
    _check_usable(root.certificate, wall)
    return root


def _check_usable(cert: x509.Certificate, wall: float) -> None:
    """A certificate a root must be: a CA, valid now and for a year more."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CAError(
            "error while validating Root CA Certificate: the certificate is not a CA "
            "(its basic constraints do not say CA:TRUE)"
        )
    not_before = cert.not_valid_before_utc
    if wall < not_before.timestamp():
        raise CAError(
            "error while validating Root CA Certificate: x509: certificate has expired or "
            f"is not yet valid: current time is before {not_before.isoformat()}"
        )
    if cert.not_valid_after_utc.timestamp() < wall + MIN_ROOT_EXPIRY:
        raise CAError("CA certificate expires too soon")


def _normalized(pem: bytes) -> bytes:
    """PEM blocks as SwarmKit's ``NormalizePEMs`` keeps them: certificates only, each
    ending in one newline."""
    return b"".join(chain.split_pems(pem))


@functools.lru_cache(maxsize=256)
def bundle_issuer(roots_pem: bytes) -> TLSInfo:
    """The issuer a node's certificate must show under the trust bundle ``roots_pem``:
    its last root (the new one during a rotation, else the cluster's only one). Once
    per bundle (pure; immutable result): every heartbeat ack carries the roots."""
    blocks = chain.split_pems(roots_pem)
    if not blocks:
        raise CAError("failed to parse certificate: no PEM certificate found")
    return RootCA(blocks[-1]).tls_info()
