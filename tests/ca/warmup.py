"""Let cryptography resolve ``datetime.datetime`` before the rule-1 trap replaces it.

cryptography's Rust core looks up ``datetime.datetime`` the first time it converts one and
keeps it. If that first time comes while tests/rule1/io_trap.py is installed, it keeps the
trap's facade class, and every real datetime then fails its type check ("'datetime' object is
not an instance of 'datetime'"). Signing one throwaway certificate first pins the real class,
tests/conftest.py calls it before installing the trap. Imports nothing from core.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def warm_cryptography() -> None:
    """Sign and read back one certificate, so both conversion directions are resolved."""
    key = ec.derive_private_key(1, ec.SECP256R1())
    name = x509.Name([])
    start = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert cert.not_valid_before_utc == start
