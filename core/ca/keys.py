"""Deterministic key material and PEM serialisation.

Keys and serial numbers are drawn from the driver's ``entropy(n)`` (``os.urandom`` in real
mode, a seeded stream in simulation), never from a global generator, and every signature is
RFC 6979 deterministic, so the same entropy gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.ca.errors import CAError

Entropy = Callable[[int], bytes]

CURVE: Final = ec.SECP256R1()
#: The order of P-256's base point: private scalars lie in [1, n-1].
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: 8 bytes more than the scalar so that reducing modulo n-1 leaves a negligible bias.
_KEY_SEED_BYTES: Final = 40
#: cfssl draws 20-byte serials with the top bit cleared (positive, at most 159 bits).
_SERIAL_BYTES: Final = 20
HASH: Final = hashes.SHA256()


def derive_key(entropy: Entropy) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key whose scalar comes from ``entropy``."""
    seed = int.from_bytes(entropy(_KEY_SEED_BYTES), "big")
    return ec.derive_private_key(seed % (_P256_ORDER - 1) + 1, CURVE)


def serial_number(entropy: Entropy) -> int:
    """A positive serial of at most 159 bits, as cfssl makes them."""
    raw = bytearray(entropy(_SERIAL_BYTES))
    raw[0] &= 0x7F
    return int.from_bytes(raw, "big") or 1


def sign_certificate(
    builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """ECDSA-SHA256 with RFC 6979 nonces: no randomness, same bytes every time."""
    return builder.sign(key, HASH, ecdsa_deterministic=True)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``-----BEGIN EC PRIVATE KEY-----`` (SEC 1, as SwarmKit writes swarm-node.key),
    unencrypted until the locked-swarm work adds a key-encrypting key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def load_key_pem(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """The P-256 key in ``pem``; anything else is refused."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise CAError(f"malformed private key: {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
        raise CAError("malformed private key: not an ECDSA P-256 key")
    return key


def certificate_pem(cert: x509.Certificate) -> bytes:
    """``-----BEGIN CERTIFICATE-----`` bytes."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes (PEM: the first block, as Go's pem.Decode)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise CAError(f"failed to parse certificate: {error}") from None
