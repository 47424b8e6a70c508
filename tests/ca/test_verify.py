"""Verification the transport relies on: identity, issuer, and validity at a given wall time."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from core.ca.errors import CertificateRejected
from core.ca.validity import cert_window
from core.ca.verify import (
    PeerIdentity,
    is_expired,
    peer_identity,
    verify_node_certificate,
)
from core.model.enums import NodeRole
from tests.ca.support import CLUSTER, NODE, WALL, load, make_root, node_cert


@pytest.mark.parametrize("role", [NodeRole.MANAGER, NodeRole.WORKER])
def test_peer_identity_from_der_pem_or_parsed(role: NodeRole) -> None:
    pem = node_cert(make_root(), role)[0]
    expected = PeerIdentity(NODE, role, CLUSTER)
    der = load(pem).public_bytes(Encoding.DER)
    assert peer_identity(der) == expected
    assert peer_identity(pem) == expected
    assert peer_identity(load(pem)) == expected


def test_a_certificate_without_a_swarm_role_has_no_identity() -> None:
    # The root's subject is CN=swarm-ca alone: no OU, so no role.
    with pytest.raises(CertificateRejected, match="organizational unit"):
        peer_identity(make_root().certificate)


def test_a_certificate_of_the_cluster_ca_verifies_within_its_window() -> None:
    root = make_root()
    pem = node_cert(root, NodeRole.MANAGER)[0]
    window = cert_window(load(pem))
    # The root is backdated 5 minutes only, so the chain is valid from the root's NotBefore.
    start = cert_window(root.certificate).not_before
    assert start > window.not_before
    for wall in (start, WALL, window.not_after):
        assert verify_node_certificate(pem, root, wall).role is NodeRole.MANAGER
    # A worker keeps only the public root, and verifies with it just the same.
    assert verify_node_certificate(pem, root.public(), WALL).node_id == NODE


def test_a_certificate_from_another_ca_is_signed_by_an_unknown_authority() -> None:
    ours, theirs = make_root(seed=1), make_root(seed=2)
    pem = node_cert(theirs)[0]
    with pytest.raises(
        CertificateRejected, match=r"^x509: certificate signed by unknown authority$"
    ):
        verify_node_certificate(pem, ours, WALL)


def test_an_expired_certificate_is_refused_with_gos_message() -> None:
    root = make_root()
    pem = node_cert(root, expiry=86_400)[0]
    after = cert_window(load(pem)).not_after
    assert not is_expired(load(pem), after)
    assert is_expired(load(pem), after + 0.5)
    with pytest.raises(CertificateRejected) as caught:
        verify_node_certificate(pem, root, after + 1)
    assert str(caught.value) == (
        "x509: certificate has expired or is not yet valid: current time "
        "2023-11-15T22:13:01Z is after 2023-11-15T22:13:00Z"
    )


def test_a_certificate_not_yet_valid_is_refused() -> None:
    root = make_root(wall=WALL - 7200)
    pem = node_cert(root)[0]
    before = cert_window(load(pem)).not_before
    with pytest.raises(CertificateRejected, match=r"current time .* is before "):
        verify_node_certificate(pem, root, before - 1)


def test_the_root_itself_must_be_valid_too() -> None:
    # The node certificate is fine a minute after signing, but the root was made "in the
    # future" on a skewed clock: Go checks every certificate of the chain.
    root = make_root(wall=WALL + 3600)
    pem = node_cert(root, wall=WALL + 3600)[0]
    with pytest.raises(CertificateRejected, match="is before"):
        verify_node_certificate(pem, root, WALL + 3600 - 1200)
