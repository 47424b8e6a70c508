"""PKI-07/PKI-08: the pure parts of a root rotation: the cross-signed intermediate, the
signer and trust bundle during and after a rotation, and SwarmKit's checks of a
``CAConfig`` asking for one (``validateCAConfig``), with its words."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from core.ca import rotation
from core.ca.chain import chain_issuer, issued_by, split_pems, tls_info
from core.ca.cluster import stored_root
from core.ca.credentials import accept
from core.ca.errors import CAError
from core.ca.issue import new_csr, sign_node_certificate
from core.ca.root import RootCA
from core.model.cluster import CAConfig
from core.model.enums import NodeRole
from tests.ca.support import CLUSTER, NODE, WALL, entropy, given_root, make_root


def rotating() -> tuple[RootCA, RootCA, rotation.ClusterRootCA]:
    old, new = make_root(1), make_root(2)
    return old, new, rotation.begin(stored_root(old), new, 1)


def test_the_cross_signed_root_has_the_new_subject_and_key_and_the_old_issuer() -> None:
    old, new, stored = rotating()
    assert stored.root_rotation is not None
    crossed = x509.load_pem_x509_certificate(stored.root_rotation.cross_signed_ca_cert.encode())
    assert crossed.subject == new.certificate.subject
    assert crossed.public_key() == new.certificate.public_key()
    assert issued_by(crossed, old.certificate)
    assert not issued_by(crossed, new.certificate)
    assert crossed.serial_number == new.certificate.serial_number


def test_during_a_rotation_the_new_root_signs_and_the_chain_verifies_under_either_root() -> None:
    old, new, stored = rotating()
    signer, intermediates = rotation.signer(stored)
    assert signer.cert_pem == new.cert_pem and intermediates
    key, csr = new_csr(entropy(5))
    leaf = sign_node_certificate(
        signer, csr, node_id=NODE, role=NodeRole.WORKER, cluster_id=CLUSTER, wall=WALL,
        entropy=entropy(6),
    )  # fmt: skip
    chain = leaf + intermediates
    assert chain_issuer(chain, old.cert_pem).subject == new.certificate.subject
    assert chain_issuer(chain, new.cert_pem) == new.certificate
    bundle = rotation.trust_bundle(stored)
    assert split_pems(bundle) == [old.cert_pem, new.cert_pem]
    credentials = accept(key, chain, bundle)
    assert credentials.root.cert_pem == old.cert_pem  # the cluster's root, tokens name it
    assert credentials.issued_by(rotation.desired_issuer(stored))
    assert tls_info(chain, bundle).cert_issuer_public_key == new.tls_info().cert_issuer_public_key
    # once over: the new root alone, and the intermediate dropped
    after = credentials.trusting(new.cert_pem)
    assert after.root_pem == new.cert_pem and after.cert_pem == leaf


def test_a_certificate_of_the_old_root_is_refused_once_only_the_new_root_is_trusted() -> None:
    old, new, _ = rotating()
    key, csr = new_csr(entropy(5))
    leaf = sign_node_certificate(
        old, csr, node_id=NODE, role=NodeRole.WORKER, cluster_id=CLUSTER, wall=WALL,
        entropy=entropy(6),
    )  # fmt: skip
    with pytest.raises(CAError, match="certificate signed by unknown authority"):
        accept(key, leaf, new.cert_pem)
    assert not accept(key, leaf, old.cert_pem).issued_by(new.tls_info())


def test_finishing_makes_the_new_root_the_clusters_and_clears_the_rotation() -> None:
    _, new, stored = rotating()
    finished = rotation.finish(stored)
    assert finished.root_rotation is None
    assert finished.ca_cert == new.cert_pem.decode() and finished.ca_cert_hash == new.digest
    assert finished.last_forced_rotation == 1
    assert rotation.trust_bundle(finished) == new.cert_pem


def test_force_rotate_starts_a_rotation_only_when_it_changed() -> None:
    stored = stored_root(make_root(1))
    assert rotation.requested_root(stored, CAConfig(), entropy(9), WALL) is stored
    rotated = rotation.requested_root(stored, CAConfig(force_rotate=1), entropy(9), WALL)
    assert rotated.root_rotation is not None and rotated.last_forced_rotation == 1
    again = rotation.requested_root(rotated, CAConfig(force_rotate=1), entropy(9), WALL)
    assert again is rotated


def test_the_same_seed_makes_the_same_rotation() -> None:
    stored = stored_root(make_root(1))
    one = rotation.requested_root(stored, CAConfig(force_rotate=1), entropy(9), WALL)
    two = rotation.requested_root(stored, CAConfig(force_rotate=1), entropy(9), WALL)
    assert one == two


def self_signed(years: float, key: ec.EllipticCurvePrivateKey | None = None) -> tuple[str, str]:
    return given_root(years=years, key=key)


def test_a_given_root_and_key_start_a_rotation_to_that_root() -> None:
    stored = stored_root(make_root(1))
    cert, key = self_signed(5)
    config = CAConfig(signing_ca_cert=cert, signing_ca_key=key, force_rotate=0)
    rotated = rotation.requested_root(stored, config, entropy(9), WALL)
    assert rotated.root_rotation is not None and rotated.root_rotation.ca_cert == cert


@pytest.mark.parametrize(
    ("cert", "key", "error"),
    [
        ("", "KEY", "if a signing CA key is provided, the signing CA cert must also be provided"),
        ("CERT", "", "there must be at least one valid, reachable external CA corresponding"),
        ("SHORT", "SHORTKEY", "CA certificate expires too soon"),
        ("CERT", "OTHERKEY", "certificate key mismatch"),
        ("TWO", "KEY", "the desired CA certificate cannot contain multiple certificates"),
        ("GARBAGE", "KEY", "could not parse the desired CA certificate"),
        ("SAMEKEY", "SAMEKEYPEM", "Cannot update to a cert with an identical key"),
    ],
)
def test_a_given_root_is_refused_in_swarmkits_words(cert: str, key: str, error: str) -> None:
    current = make_root(1)
    stored = stored_root(current)
    good_cert, good_key = self_signed(5)
    short_cert, short_key = self_signed(0.5)
    _, other_key = self_signed(5)
    same_cert, _ = self_signed(5, current.signing_key())
    values = {
        "CERT": good_cert,
        "KEY": good_key,
        "SHORT": short_cert,
        "SHORTKEY": short_key,
        "OTHERKEY": other_key,
        "TWO": good_cert + good_cert,
        "GARBAGE": "not a certificate",
        "SAMEKEY": same_cert,
        "SAMEKEYPEM": current.key_pem.decode() if current.key_pem else "",
        "": "",
    }
    config = CAConfig(signing_ca_cert=values[cert], signing_ca_key=values[key])
    with pytest.raises(CAError, match=error):
        rotation.requested_root(stored, config, entropy(9), WALL)
