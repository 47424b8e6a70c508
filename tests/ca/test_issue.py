"""Node certificates: subject, SANs, usages and validity as SwarmKit's CA signs them."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from core.ca.errors import CAError
from core.ca.issue import check_cert_expiry, new_csr, sign_node_certificate
from core.ca.validity import cert_window
from core.model.enums import NodeRole
from tests.ca.support import CLUSTER, NODE, WALL, entropy, load, make_root, node_cert


def sans(cert: x509.Certificate) -> list[str]:
    value = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return value.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize(
    ("role", "ou", "expected_sans"),
    [
        (NodeRole.MANAGER, "swarm-manager", ["swarm-manager", NODE, "swarm-ca"]),
        (NodeRole.WORKER, "swarm-worker", ["swarm-worker", NODE]),
    ],
)
def test_subject_names_node_role_and_cluster(
    role: NodeRole, ou: str, expected_sans: list[str]
) -> None:
    root = make_root()
    cert = load(node_cert(root, role)[0])
    assert cert.subject == x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CLUSTER),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.COMMON_NAME, NODE),
        ]
    )
    assert cert.issuer == root.certificate.subject
    assert sans(cert) == expected_sans


def test_extensions_are_cfssls_node_profile() -> None:
    root = make_root()
    cert = load(node_cert(root)[0])
    assert [ext.oid for ext in cert.extensions] == [
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment
    assert not usage.key_cert_sign and not usage.crl_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == root_ski.value.digest
    cert.verify_directly_issued_by(root.certificate)


def test_certificate_key_is_the_csrs_key() -> None:
    stream = entropy(3)
    pair = new_csr(stream)
    cert = sign_node_certificate(
        make_root(),
        pair.csr_pem,
        node_id=NODE,
        role=NodeRole.WORKER,
        cluster_id=CLUSTER,
        wall=WALL,
        entropy=stream,
    )
    csr = x509.load_pem_x509_csr(pair.csr_pem)
    assert csr.subject == x509.Name([])  # the node asserts no name; the CA picks them all
    assert load(cert).public_key() == csr.public_key()
    assert pair.key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")


def test_default_validity_is_ninety_days_from_the_rounded_wall_time_backdated_an_hour() -> None:
    # WALL (22:13:20) rounds to 22:13:00.
    window = cert_window(load(node_cert(make_root())[0]))
    minute = 1_700_000_000 - 20
    assert window.not_before == minute - 3600
    assert window.not_after == minute + 2160 * 3600


def test_cert_expiry_sets_the_lifetime_and_short_ones_fall_back_to_the_default() -> None:
    root = make_root()
    minute = 1_700_000_000 - 20
    one_day = cert_window(load(node_cert(root, expiry=86_400)[0]))
    assert (one_day.not_before, one_day.not_after) == (minute - 3600, minute + 86_400)
    one_hour = cert_window(load(node_cert(root, expiry=3600)[0]))
    assert one_hour.not_after == minute + 3600
    too_short = cert_window(load(node_cert(root, expiry=3599)[0]))
    assert too_short.not_after == minute + 2160 * 3600


def test_cert_expiry_check_refuses_less_than_an_hour_with_swarmkits_message() -> None:
    check_cert_expiry(3600)
    with pytest.raises(CAError, match=r"^minimum certificate expiry time is: 1h0m0s$"):
        check_cert_expiry(3599)


def test_same_entropy_and_wall_time_give_byte_identical_certificates() -> None:
    root = make_root()
    assert node_cert(root, seed=5) == node_cert(root, seed=5)
    # Another root from the same seed signs the same bytes too.
    assert node_cert(make_root(), seed=5) == node_cert(root, seed=5)


def test_other_entropy_gives_another_key_serial_and_certificate() -> None:
    root = make_root()
    first_cert, first_key = node_cert(root, seed=5)
    other_cert, other_key = node_cert(root, seed=6)
    assert other_key != first_key
    assert other_cert != first_cert
    assert load(other_cert).serial_number != load(first_cert).serial_number


def test_serials_are_positive_and_fit_twenty_octets() -> None:
    root = make_root()
    for seed in range(50):
        serial = load(node_cert(root, seed=seed)[0]).serial_number
        assert 0 < serial < 1 << 159


def test_a_ca_without_its_key_cannot_sign() -> None:
    pair = new_csr(entropy(3))
    with pytest.raises(CAError, match="no valid signer found"):
        sign_node_certificate(
            make_root().public(),
            pair.csr_pem,
            node_id=NODE,
            role=NodeRole.WORKER,
            cluster_id=CLUSTER,
            wall=WALL,
            entropy=entropy(4),
        )


def test_a_malformed_csr_is_refused() -> None:
    with pytest.raises(CAError, match=r"^failed to sign node certificate"):
        sign_node_certificate(
            make_root(),
            b"not a csr",
            node_id=NODE,
            role=NodeRole.WORKER,
            cluster_id=CLUSTER,
            wall=WALL,
            entropy=entropy(4),
        )


def test_subject_strings_are_printable_strings_as_go_writes_them() -> None:
    cert = load(node_cert(make_root())[0])
    kinds = {attr.oid: attr._type for attr in cert.subject}
    assert set(kinds.values()) == {x509.name._ASN1Type.PrintableString}
    # "_" is not in PrintableString's alphabet: Go falls back to UTF8String.
    odd = load(node_cert(make_root(), node_id="node_1")[0])
    cn = odd.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert cn._type == x509.name._ASN1Type.UTF8String
