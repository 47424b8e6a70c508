"""The root CA: SwarmKit's subject, extensions, lifetime, digest and deterministic bytes."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.ca.errors import CAError
from core.ca.keys import load_key_pem
from core.ca.root import RootCA
from core.ca.validity import cert_window
from tests.ca.support import WALL, load, make_root


def test_root_is_a_self_signed_p256_ca_named_swarm_ca() -> None:
    cert = make_root().certificate
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swarm-ca")])
    assert cert.subject == name
    assert cert.issuer == name
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    cert.verify_directly_issued_by(cert)


def test_root_extensions_are_ca_cert_sign_crl_sign_and_ski() -> None:
    cert = make_root().certificate
    oids = [ext.oid for ext in cert.extensions]
    assert oids == [
        x509.oid.ExtensionOID.KEY_USAGE,
        x509.oid.ExtensionOID.BASIC_CONSTRAINTS,
        x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature and not usage.value.key_encipherment
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length is None
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def test_root_lives_twenty_years_from_five_minutes_before_the_rounded_wall_time() -> None:
    # WALL is 22:13:20, which rounds down to 22:13:00; cfssl backdates 5 minutes.
    window = cert_window(make_root(wall=WALL).certificate)
    assert window.not_before == 1_700_000_000 - 20 - 300
    assert window.not_after == window.not_before + 630_720_000
    # Exactly half a minute past 22:12:00 rounds up to 22:13:00, as Go's Time.Round does;
    # a little less rounds down.
    assert cert_window(make_root(wall=1_699_999_950.0).certificate).not_before == (
        1_699_999_980 - 300
    )
    assert cert_window(make_root(wall=1_699_999_949.9).certificate).not_before == (
        1_699_999_920 - 300
    )


def test_digest_is_the_sha256_of_the_certificate_pem() -> None:
    root = make_root()
    assert root.digest == hashlib.sha256(root.cert_pem).hexdigest()
    assert len(root.digest) == 64


def test_same_entropy_and_wall_time_give_the_same_bytes() -> None:
    first, second = make_root(seed=7), make_root(seed=7)
    assert first.cert_pem == second.cert_pem
    assert first.key_pem == second.key_pem


def test_other_entropy_or_wall_time_gives_other_bytes() -> None:
    base = make_root(seed=7)
    other_seed = make_root(seed=8)
    assert other_seed.cert_pem != base.cert_pem
    assert other_seed.key_pem != base.key_pem
    assert make_root(seed=7, wall=WALL + 3600).cert_pem != base.cert_pem


def test_root_key_pem_is_an_unencrypted_sec1_key_matching_the_certificate() -> None:
    root = make_root()
    assert root.key_pem is not None
    assert root.key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert load_key_pem(root.key_pem).public_key() == root.certificate.public_key()
    assert root.can_sign


def test_public_copy_drops_the_key_and_cannot_sign() -> None:
    public = make_root().public()
    assert public.key_pem is None
    assert not public.can_sign
    with pytest.raises(CAError, match="no valid signer found"):
        public.signing_key()


def test_a_key_that_is_not_the_certificates_is_refused() -> None:
    other = make_root(seed=9)
    with pytest.raises(CAError, match="certificate key mismatch"):
        RootCA(make_root().cert_pem, other.key_pem)


def test_a_certificate_that_is_not_self_signed_is_refused_as_root() -> None:
    from tests.ca.support import node_cert

    leaf, _ = node_cert(make_root())
    assert load(leaf).issuer != load(leaf).subject
    with pytest.raises(CAError, match="error while validating Root CA Certificate"):
        RootCA(leaf)


def test_garbage_is_refused_with_a_parse_error() -> None:
    with pytest.raises(CAError, match="failed to parse certificate"):
        RootCA(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_tls_info_is_what_docker_shows_for_the_root() -> None:
    root = make_root()
    info = root.tls_info()
    assert info.trust_root == root.cert_pem.decode()
    # Byte for byte what every Docker swarm shows: CN=swarm-ca as a PrintableString.
    assert info.cert_issuer_subject == "MBMxETAPBgNVBAMTCHN3YXJtLWNh"
    assert info.cert_issuer_public_key.startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
